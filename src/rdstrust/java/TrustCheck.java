// rdstrust's second opinion: ask the JVM itself whether a trust store trusts a server chain.
//
// Run with the single-file source launcher (Java 11+), no build step:
//
//   RDSTRUST_STORE_PASSWORD=... java TrustCheck.java STORE TYPE CHAIN.pem [HOST] [AT_MILLIS]
//
// STORE      the trust store file; TYPE is a KeyStore type ("JKS", "PKCS12").
// CHAIN.pem  the server's chain, leaf first, as PEM.
// HOST       optional: the host name to check against the leaf like pgjdbc's sslmode=verify-full
//            ("-" or empty: no host name check, sslmode=verify-ca).
// AT_MILLIS  optional: evaluate validity at this instant (milliseconds since the epoch) instead of
//            now, through PKIXBuilderParameters.setDate.
//
// The store password comes from the environment variable RDSTRUST_STORE_PASSWORD, never from the
// command line (argv is visible to every user through ps). Unset means "load without a password",
// which is what an application does that sets javax.net.ssl.trustStore without a password: for an
// encrypted PKCS12 that silently yields a store without trust anchors, which this program reports.
//
// Output: one line of JSON on stdout:
//   {"trusted":true|false,"hostname_ok":true|false|null,"anchors":N,"auth_type":"...",
//    "java_version":"...","message":"..."}
// Exit status 0 when the verdict was reached (trusted or not), 2 for bad arguments or an
// unreadable chain or store.

import java.io.InputStream;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXBuilderParameters;
import java.security.cert.X509CertSelector;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.CertPathTrustManagerParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class TrustCheck {

    public static void main(String[] args) {
        if (args.length < 3) {
            System.out.println(json(false, null, -1, "", "usage: TrustCheck STORE TYPE CHAIN.pem [HOST] [AT_MILLIS]"));
            System.exit(2);
        }
        Path storePath = Paths.get(args[0]);
        String type = args[1];
        Path chainPath = Paths.get(args[2]);
        String host = args.length > 3 && !args[3].isEmpty() && !args[3].equals("-") ? args[3] : null;
        Long at = args.length > 4 && !args[4].isEmpty() ? Long.valueOf(args[4]) : null;
        String password = System.getenv("RDSTRUST_STORE_PASSWORD");

        X509Certificate[] chain;
        try (InputStream in = Files.newInputStream(chainPath)) {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            Collection<? extends java.security.cert.Certificate> certs = cf.generateCertificates(in);
            List<X509Certificate> list = new ArrayList<>();
            for (java.security.cert.Certificate c : certs) {
                list.add((X509Certificate) c);
            }
            if (list.isEmpty()) {
                throw new CertificateException("no certificate in " + chainPath);
            }
            chain = list.toArray(new X509Certificate[0]);
        } catch (Exception e) {
            System.out.println(json(false, null, -1, "", "cannot read the chain: " + describe(e)));
            System.exit(2);
            return;
        }
        String authType = authType(chain[0]);

        KeyStore ks;
        int anchors = 0;
        try (InputStream in = Files.newInputStream(storePath)) {
            ks = KeyStore.getInstance(type);
            ks.load(in, password == null ? null : password.toCharArray());
            for (String alias : Collections.list(ks.aliases())) {
                if (ks.isCertificateEntry(alias)) {
                    anchors++;
                }
            }
        } catch (Exception e) {
            System.out.println(json(false, null, -1, authType, "cannot load the store: " + describe(e)));
            System.exit(2);
            return;
        }

        boolean trusted;
        String message;
        try {
            X509TrustManager tm = trustManager(ks, at);
            tm.checkServerTrusted(chain, authType);
            trusted = true;
            message = "checkServerTrusted accepted the chain";
        } catch (Exception e) {
            trusted = false;
            message = describe(e);
        }
        Boolean hostnameOk = null;
        if (host != null) {
            hostnameOk = hostnameMatches(chain[0], host);
            if (trusted && !hostnameOk) {
                message = "the chain is trusted but the certificate is not valid for host " + host;
            }
        }
        System.out.println(json(trusted, hostnameOk, anchors, authType, message));
    }

    // The default TrustManagerFactory ("PKIX" on every current JDK), as an application gets it.
    // To evaluate at another instant it is initialised with PKIXBuilderParameters carrying the
    // date (revocation off, as the default factory does without system properties).
    static X509TrustManager trustManager(KeyStore ks, Long at) throws Exception {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        if (at == null) {
            tmf.init(ks);
        } else {
            PKIXBuilderParameters params = new PKIXBuilderParameters(ks, new X509CertSelector());
            params.setRevocationEnabled(false);
            params.setDate(new Date(at));
            tmf.init(new CertPathTrustManagerParameters(params));
        }
        for (TrustManager tm : tmf.getTrustManagers()) {
            if (tm instanceof X509TrustManager) {
                return (X509TrustManager) tm;
            }
        }
        throw new IllegalStateException("the default TrustManagerFactory has no X509TrustManager");
    }

    // SunJSSE's EndEntityChecker checks the leaf's key usage against the key exchange named here:
    // the ECDHE suites (what PostgreSQL negotiates) need digitalSignature.
    static String authType(X509Certificate leaf) {
        String alg = leaf.getPublicKey().getAlgorithm();
        if (alg.equals("RSA")) {
            return "ECDHE_RSA";
        }
        if (alg.equals("EC")) {
            return "ECDHE_ECDSA";
        }
        return "UNKNOWN";
    }

    // Host name matching as pgjdbc's PGjdbcHostnameVerifier does for sslmode=verify-full (which
    // is also libpq's rule): subjectAltName dNSName entries (a wildcard only as the whole
    // left-most label) or iPAddress entries; the subject CN only when there is no dNSName SAN.
    static boolean hostnameMatches(X509Certificate leaf, String host) {
        String wanted = host.toLowerCase(Locale.ROOT);
        boolean isIp = looksLikeIp(host);
        List<String> dnsNames = new ArrayList<>();
        try {
            Collection<List<?>> sans = leaf.getSubjectAlternativeNames();
            if (sans != null) {
                for (List<?> san : sans) {
                    int kind = (Integer) san.get(0);
                    String value = String.valueOf(san.get(1));
                    if (kind == 2) {
                        dnsNames.add(value);
                        if (!isIp && dnsMatches(value.toLowerCase(Locale.ROOT), wanted)) {
                            return true;
                        }
                    } else if (kind == 7 && isIp && sameIp(value, host)) {
                        return true;
                    }
                }
            }
            if (!dnsNames.isEmpty()) {
                return false;
            }
            LdapName name = new LdapName(leaf.getSubjectX500Principal().getName());
            for (Rdn rdn : name.getRdns()) {
                if (rdn.getType().equalsIgnoreCase("CN")) {
                    String cn = String.valueOf(rdn.getValue()).toLowerCase(Locale.ROOT);
                    return isIp ? sameIp(cn, host) : dnsMatches(cn, wanted);
                }
            }
        } catch (Exception e) {
            return false;
        }
        return false;
    }

    static boolean looksLikeIp(String host) {
        return host.matches("[0-9.]+") || host.contains(":");
    }

    static boolean sameIp(String a, String b) {
        try {
            return InetAddress.getByName(a).equals(InetAddress.getByName(b));
        } catch (Exception e) {
            return false;
        }
    }

    static boolean dnsMatches(String pattern, String host) {
        if (pattern.startsWith("*.")) {
            int dot = host.indexOf('.');
            return dot > 0 && host.substring(dot).equals(pattern.substring(1));
        }
        return pattern.equals(host);
    }

    // The innermost cause names the real problem ("PKIX path building failed" wraps
    // "unable to find valid certification path", and CertPathValidatorException "validity check
    // failed" wraps the CertificateExpiredException).
    static String describe(Throwable e) {
        StringBuilder text = new StringBuilder();
        Throwable t = e;
        while (t != null) {
            String m = t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage();
            if (text.length() == 0) {
                text.append(m);
            } else if (!text.toString().contains(m)) {
                text.append(": ").append(m);
            }
            if (t.getCause() == t) {
                break;
            }
            t = t.getCause();
        }
        return text.toString();
    }

    static String json(boolean trusted, Boolean hostnameOk, int anchors, String authType, String message) {
        return "{\"trusted\":" + trusted
            + ",\"hostname_ok\":" + (hostnameOk == null ? "null" : hostnameOk.toString())
            + ",\"anchors\":" + anchors
            + ",\"auth_type\":" + quote(authType)
            + ",\"java_version\":" + quote(System.getProperty("java.version"))
            + ",\"message\":" + quote(message) + "}";
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
