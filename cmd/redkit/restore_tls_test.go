package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redkit/redkit/internal/redistest"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files in dir.
func testPKI(t *testing.T, dir string) (ca, serverCert, serverKey, clientCert, clientKey string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "redkit test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(serial int64, usage x509.ExtKeyUsage, name string) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kder)
	}
	ca = write("ca.crt", "CERTIFICATE", caDER)
	serverCert, serverKey = leaf(2, x509.ExtKeyUsageServerAuth, "server")
	clientCert, clientKey = leaf(3, x509.ExtKeyUsageClientAuth, "client")
	return
}

// TestRestoreTLS restores over TLS into a server that asks for client
// certificates: verified against the test CA, refused without it, and
// --tls-insecure skipping verification only when asked.
func TestRestoreTLS(t *testing.T) {
	_, dump := convertSourceDump(t)
	dir := t.TempDir()
	ca, sc, sk, cc, ck := testPKI(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dst := redistest.Start(t, redistest.Options{Config: []string{
		"tls-port " + strconv.Itoa(tlsPort), "tls-cert-file " + sc, "tls-key-file " + sk,
		"tls-ca-cert-file " + ca, "tls-auth-clients yes",
	}})
	url := "rediss://127.0.0.1:" + strconv.Itoa(tlsPort)

	r := redkit(t, nil, "restore", "--to", url, "--tls-cert", cc, "--tls-key", ck, dump).want(t, 1)
	if !strings.Contains(r.stderr, "certificate") {
		t.Errorf("no CA given, the server's certificate must not verify:\n%s", r.stderr)
	}
	r = redkit(t, nil, "restore", "--to", url, "--tls-ca", ca, "--timeout", "3s", dump).want(t, 1)
	if !strings.Contains(r.stderr, "127.0.0.1:"+strconv.Itoa(tlsPort)) {
		t.Errorf("no client certificate:\n%s", r.stderr)
	}
	t.Logf("without a client certificate:\n%s", r.stderr)
	redkit(t, nil, "restore", "--to", url, "--tls-ca", ca, "--tls-cert", cc, "--tls-key", ck, "-q", dump).want(t, 0)
	if got, want := debugDigest(t, dst), debugDigest(t, pipeInto(t, []byte(redkit(t, nil, "convert", "--to", "resp", "-q", dump).stdout))); got != want {
		t.Errorf("DEBUG DIGEST %s, want %s", got, want)
	}
	redkit(t, nil, "restore", "--to", url, "--tls-insecure", "--tls-cert", cc, "--tls-key", ck, "--conflict", "replace", "-q", dump).want(t, 0)
}
