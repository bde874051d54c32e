package testkit

import (
	"errors"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

// PostgresServer returns the PostgreSQL server tests put their databases on:
// EPCFLOW_TEST_POSTGRES, which must answer, else postgres://postgres@127.0.0.1:5432/, and
// then the test is skipped only when the connection is refused.
func PostgresServer(t *testing.T) *url.URL {
	t.Helper()
	base, fromEnv := os.LookupEnv("EPCFLOW_TEST_POSTGRES")
	if !fromEnv {
		base = "postgres://postgres@127.0.0.1:5432/"
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("EPCFLOW_TEST_POSTGRES: %v", err)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "5432")
	}
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		if !fromEnv && errors.Is(err, syscall.ECONNREFUSED) {
			t.Skipf("no PostgreSQL at %s (%v); set EPCFLOW_TEST_POSTGRES to name one", addr, err)
		}
		t.Fatalf("PostgreSQL at %s: %v", addr, err)
	}
	_ = c.Close()
	return u
}
