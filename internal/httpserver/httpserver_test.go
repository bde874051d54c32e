package httpserver

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/internal/slowloris"
)

// trickle runs a slowloris request against addr.
func trickle(t *testing.T, addr, path string, size int, interval time.Duration, stop <-chan struct{}) (answer string, sent int) {
	t.Helper()
	res, err := slowloris.Trickle(slowloris.Request{Addr: addr, Path: path, Size: size, Interval: interval}, stop)
	require.NoError(t, err)
	return res.Answer, res.Sent
}

// TestSlowBodyIsCutOff: a body trickled one byte at a time is cut off once the whole request
// has taken ReadTimeout, and the handler's read fails with a timeout rather than waiting for
// the rest.
func TestSlowBodyIsCutOff(t *testing.T) {
	readErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
		w.WriteHeader(http.StatusRequestTimeout)
	})
	s, err := Listen("127.0.0.1:0", h, Limits{ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Stop(time.Second) })

	stop := make(chan struct{})
	done := make(chan int, 1)
	go func() {
		_, sent := trickle(t, s.Addr().String(), "/", 10_000, 100*time.Millisecond, stop)
		done <- sent
	}()
	// The trickle would last 1,000 s; the bound is half a second. Wait for the cut-off.
	select {
	case err := <-readErr:
		require.Error(t, err, "the handler read the whole trickled body")
		require.True(t, errors.Is(err, os.ErrDeadlineExceeded), "the read ends by the deadline: %v", err)
	case <-time.After(20 * time.Second):
		close(stop)
		t.Fatal("a body trickled one byte every 100 ms is still being read after 20 s (ReadTimeout 500 ms)")
	}
	select {
	case sent := <-done:
		require.Less(t, sent, 10_000, "the whole body was taken")
	case <-time.After(20 * time.Second):
		close(stop)
		t.Fatal("the server kept the connection after cutting the read off")
	}
}

// countingListener counts the connections the server accepted and has not closed yet, and
// the most ever open at once.
type countingListener struct {
	net.Listener
	open, peak, accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.accepted.Add(1)
	n := l.open.Add(1)
	for {
		p := l.peak.Load()
		if n <= p || l.peak.CompareAndSwap(p, n) {
			break
		}
	}
	return &countedConn{Conn: c, l: l}, nil
}

type countedConn struct {
	net.Conn
	l    *countingListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// TestSlowConnectionsBeyondTheCapWait: 40 clients that send half a request line and stop
// hold at most MaxConns connections (and their goroutines) of the server at once; the others
// wait in the kernel's queue until a slot frees, and every one is eventually answered or
// closed.
func TestSlowConnectionsBeyondTheCapWait(t *testing.T) {
	const clients, maxConns = 40, 4
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cl := &countingListener{Listener: ln}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	before := runtime.NumGoroutine()
	s, err := Serve(cl, h, Limits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond, MaxConns: maxConns}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Stop(time.Second) })

	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_, err = io.WriteString(c, "POST / HTT") // and nothing more
		require.NoError(t, err)
		conns[i] = c
	}
	// The server takes the first maxConns; the goroutines it runs are for those only.
	deadline := time.Now().Add(20 * time.Second)
	for cl.accepted.Load() < maxConns {
		require.True(t, time.Now().Before(deadline), "the server accepted only %d connections", cl.accepted.Load())
		runtime.Gosched()
	}
	grew := runtime.NumGoroutine() - before
	require.LessOrEqual(t, grew, 2*maxConns+2, "%d slow connections (cap %d) made %d goroutines", clients, maxConns, grew)

	// Each connection is cut off at the header timeout, which frees a slot for the next.
	for i, c := range conns {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
		_, err := io.ReadAll(c)
		require.NoError(t, err, "connection %d: the server neither answered nor closed it", i)
	}
	require.EqualValues(t, clients, cl.accepted.Load(), "every connection was taken in turn")
	require.LessOrEqual(t, cl.peak.Load(), int64(maxConns), "connections open at once")
}

func TestLimitsDefaultsAndCheck(t *testing.T) {
	l := Limits{}.WithDefaults()
	require.Equal(t, Limits{
		ReadHeaderTimeout: DefaultReadHeaderTimeout, ReadTimeout: DefaultReadTimeout, WriteTimeout: DefaultWriteTimeout,
		IdleTimeout: DefaultIdleTimeout, MaxHeaderBytes: DefaultMaxHeaderBytes, MaxConns: DefaultMaxConns,
	}, l)
	require.NoError(t, l.Check())
	require.Equal(t, time.Second, Limits{ReadTimeout: time.Second}.WithDefaults().ReadTimeout, "a set field is kept")

	err := Limits{ReadTimeout: -1, MaxConns: -1, MaxHeaderBytes: -1, IdleTimeout: -1, WriteTimeout: -1, ReadHeaderTimeout: -1}.Check()
	require.Error(t, err)
	for _, f := range []string{"ReadHeaderTimeout", "ReadTimeout", "WriteTimeout", "IdleTimeout", "MaxHeaderBytes", "MaxConns"} {
		require.Contains(t, err.Error(), f+" must not be negative")
	}
	require.ErrorContains(t, Limits{ReadHeaderTimeout: time.Minute, ReadTimeout: time.Second}.Check(), "ReadHeaderTimeout must not exceed ReadTimeout")
	_, err = Listen("127.0.0.1:0", http.NotFoundHandler(), Limits{MaxConns: -1}, nil)
	require.ErrorContains(t, err, "MaxConns")
}

// TestExtendGivesOneRouteLonger: a handler that extends its deadline reads a body that
// takes longer than ReadTimeout; the same body to a route that does not is cut off.
func TestExtendGivesOneRouteLonger(t *testing.T) {
	type result struct {
		n   int
		err error
	}
	got := make(chan result, 2)
	mux := http.NewServeMux()
	read := func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		got <- result{len(b), err}
	}
	mux.HandleFunc("/short", read)
	mux.HandleFunc("/long", func(w http.ResponseWriter, r *http.Request) {
		if err := Extend(w, time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		read(w, r)
	})
	s, err := Listen("127.0.0.1:0", mux, Limits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Stop(time.Second) })

	// 10 bytes, one every 100 ms: a second in all, past the 300 ms bound.
	for _, path := range []string{"/long", "/short"} {
		answer, _ := trickle(t, s.Addr().String(), path, 10, 100*time.Millisecond, nil)
		r := <-got
		if path == "/long" {
			require.NoError(t, r.err, "the extended route reads its whole body")
			require.Equal(t, 10, r.n)
			require.True(t, strings.HasPrefix(answer, "HTTP/1.1 200"), "answer %q", answer)
		} else {
			require.True(t, errors.Is(r.err, os.ErrDeadlineExceeded), "the other route is cut off: %v", r.err)
		}
	}
}
