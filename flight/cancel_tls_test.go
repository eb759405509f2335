package flight_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/flight/flightsql"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/arrow-mino/arrow-mino/flight"
)

func TestCancelFlightInfoStopsStream(t *testing.T) {
	e := newEnv(t)
	mustExec(t, e.app, "CREATE TABLE big(body TEXT)")
	mustExec(t, e.app, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 3000)
		INSERT INTO big SELECT hex(zeroblob(5000)) FROM n`)
	cl := e.client(t)
	ctx := basicCtx(suEmail, suPassword)

	info, err := cl.Execute(ctx, "SELECT body FROM big")
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
	if err != nil {
		t.Fatal(err)
	}
	defer rdr.Release()
	if !rdr.Next() {
		t.Fatalf("no first batch: %v", rdr.Err())
	}

	res, err := cl.CancelFlightInfo(ctx, &aflight.CancelFlightInfoRequest{Info: info})
	if err != nil || res.GetStatus() != aflight.CancelStatusCancelled {
		t.Fatalf("cancel: %v %v", res, err)
	}

	rows := rdr.RecordBatch().NumRows()
	for rdr.Next() {
		rows += rdr.RecordBatch().NumRows()
	}
	if status.Code(rdr.Err()) != codes.Canceled {
		t.Fatalf("stream after cancel: err %v after %d rows", rdr.Err(), rows)
	}
	if rows >= 3000 {
		t.Fatalf("cancelled stream still sent all %d rows", rows)
	}

	// A cancelled ticket cannot be read again; the error may surface on
	// the call or on the first read.
	rdr2, err := cl.DoGet(ctx, info.Endpoint[0].Ticket)
	if err == nil {
		for rdr2.Next() {
		}
		err = rdr2.Err()
		rdr2.Release()
	}
	if status.Code(err) != codes.Canceled {
		t.Fatalf("DoGet of a cancelled ticket: %v", err)
	}
}

// selfSigned writes a loopback certificate and key and returns the paths
// and a pool trusting it.
func selfSigned(t *testing.T) (string, string, *x509.CertPool) {
	t.Helper()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}

	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return certPath, keyPath, pool
}

func TestTLS(t *testing.T) {
	certPath, keyPath, pool := selfSigned(t)
	e := newEnvWith(t, flight.Options{TLSCertFile: certPath, TLSKeyFile: keyPath})
	ctx := basicCtx(suEmail, suPassword)

	cl, err := flightsql.NewClient(e.server.Addr(), nil, nil,
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if got := query(t, ctx, cl, "SELECT 1 AS one").column(0); len(got) != 1 || got[0] != "1" {
		t.Fatalf("over TLS: %v", got)
	}

	// A plaintext client cannot talk to the TLS server.
	if _, err := e.client(t).Execute(ctx, "SELECT 1"); err == nil {
		t.Fatal("plaintext client succeeded against TLS server")
	}
}
