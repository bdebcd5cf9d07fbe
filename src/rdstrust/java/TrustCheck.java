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
//
// Bounds: the chain file may hold at most MAX_CHAIN certificates (a server sends its own and a few
// intermediates; more only feeds a branching path search). rdstrust also runs this program with
// -Xmx, -XX:+ExitOnOutOfMemoryError and a wall-clock limit (rdstrust/jvm.py).

import java.io.InputStream;
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
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;
import javax.net.ssl.CertPathTrustManagerParameters;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class TrustCheck {

    // Keep equal to MAX_CHAIN_CERTIFICATES in rdstrust/jvm.py.
    static final int MAX_CHAIN = 10;

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
            if (list.size() > MAX_CHAIN) {
                throw new CertificateException("the chain has " + list.size()
                    + " certificates, more than " + MAX_CHAIN);
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

    // Host name matching exactly as pgjdbc's PGjdbcHostnameVerifier.verify does for
    // sslmode=verify-full (org/postgresql/ssl/PGjdbcHostnameVerifier.java): a bracketed IPv6 host
    // is unbracketed, any other goes through IDN.toASCII; every dNSName and iPAddress entry is
    // compared as a string (Java's form of an address, so "::1" does not match
    // "0:0:0:0:0:0:0:1"); any dNSName entry forbids the CN fallback; otherwise the most specific
    // CN is compared. Unlike libpq, an IP host never falls back to the CN beside dNSName entries.
    // rdstrust/pathcheck.py (Client.PGJDBC) implements the same rule.
    static boolean hostnameMatches(X509Certificate leaf, String host) {
        String canonical;
        if (host.startsWith("[") && host.endsWith("]")) {
            canonical = host.substring(1, host.length() - 1);
        } else {
            try {
                canonical = java.net.IDN.toASCII(host);
            } catch (IllegalArgumentException e) {
                return false;
            }
        }
        boolean anyDns = false;
        try {
            Collection<List<?>> sans = leaf.getSubjectAlternativeNames();
            if (sans != null) {
                for (List<?> san : sans) {
                    if (san.size() != 2 || san.get(0) == null) {
                        continue;
                    }
                    int kind = (Integer) san.get(0);
                    if (kind != 2 && kind != 7) {
                        continue;
                    }
                    String value = (String) san.get(1);
                    if (kind == 7 && value.startsWith("*")) {
                        continue;
                    }
                    anyDns |= kind == 2;
                    if (verifyHostName(canonical, value)) {
                        return true;
                    }
                }
            }
            if (anyDns) {
                return false;
            }
            LdapName name = new LdapName(leaf.getSubjectX500Principal().getName(
                javax.security.auth.x500.X500Principal.RFC2253));
            String best = null;
            for (Rdn rdn : name.getRdns()) {
                if ("CN".equals(rdn.getType())) {
                    String cn = (String) rdn.getValue();
                    // pgjdbc sorts by HOSTNAME_PATTERN_COMPARATOR (stable) and takes the last.
                    if (best == null || specificity(cn, best) >= 0) {
                        best = cn;
                    }
                }
            }
            return best != null && verifyHostName(canonical, best);
        } catch (Exception e) {
            return false;
        }
    }

    // pgjdbc's HOSTNAME_PATTERN_COMPARATOR: more dots, then fewer stars, then longer wins.
    static int specificity(String a, String b) {
        int d = Long.compare(a.chars().filter(c -> c == '.').count(), b.chars().filter(c -> c == '.').count());
        if (d != 0) {
            return d;
        }
        int s = Long.compare(b.chars().filter(c -> c == '*').count(), a.chars().filter(c -> c == '*').count());
        if (s != 0) {
            return s;
        }
        return Integer.compare(a.length(), b.length());
    }

    // pgjdbc's PGjdbcHostnameVerifier.verifyHostName: '*' only as the whole left-most label.
    static boolean verifyHostName(String hostname, String pattern) {
        if (hostname == null || pattern == null) {
            return false;
        }
        int lastStar = pattern.lastIndexOf('*');
        if (lastStar == -1) {
            return hostname.equalsIgnoreCase(pattern);
        }
        if (lastStar > 0 || pattern.indexOf('.') == -1 || hostname.length() < pattern.length() - 1) {
            return false;
        }
        int toffset = hostname.length() - pattern.length() + 1;
        if (hostname.lastIndexOf('.', toffset - 1) >= 0) {
            return false;
        }
        return hostname.regionMatches(true, toffset, pattern, 1, pattern.length() - 1);
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
