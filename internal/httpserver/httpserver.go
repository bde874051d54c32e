// Package httpserver builds every HTTP server epcflow runs (the API, the sandbox, the
// worker's metrics, the benchmark's sinks), so that what one client may hold of a listener is
// bounded in one place: how long a request may take to arrive, how long a response may take
// to leave, how long an idle keep-alive connection stays, how large the headers may be, and
// how many connections are open at once.
//
// Without these bounds, a client that trickles a body one byte every few seconds keeps its
// connection, goroutine and file descriptor for ever, and a thousand such clients exhaust a
// process (issue 10 §3). With them, a slow request is cut off after ReadTimeout, and
// connections beyond MaxConns wait in the kernel's accept queue, costing the process nothing,
// until one ends.
//
// A route that legitimately takes longer to arrive (the operator's report upload) extends its
// own read deadline once it has authenticated the caller: see Extend.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/netutil"
)

// Limits bound what clients may hold of one listener. Zero fields take the defaults below.
type Limits struct {
	// ReadHeaderTimeout bounds the arrival of a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the arrival of a whole request, headers and body. ICE gives up on a
	// webhook after 30 s, so a body still arriving then is of no use to anyone.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end of its answer: the
	// longest handler (a payment session's create, 60 s) plus a client slow to read.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that waits this long for its next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes int
	// MaxConns caps the connections open at once (idle keep-alives included). More wait,
	// not accepted, in the kernel's queue.
	MaxConns int
}

// Defaults of Limits.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 2 * time.Minute
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConns          = 1024
)

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&l.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&l.ReadTimeout, DefaultReadTimeout)
	def(&l.WriteTimeout, DefaultWriteTimeout)
	def(&l.IdleTimeout, DefaultIdleTimeout)
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxConns == 0 {
		l.MaxConns = DefaultMaxConns
	}
	return l
}

// Check refuses negative limits and a header timeout longer than the whole read, naming each
// field at fault.
func (l Limits) Check() error {
	var problems []string
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ReadHeaderTimeout", l.ReadHeaderTimeout}, {"ReadTimeout", l.ReadTimeout},
		{"WriteTimeout", l.WriteTimeout}, {"IdleTimeout", l.IdleTimeout},
	} {
		if d.v < 0 {
			problems = append(problems, d.name+" must not be negative")
		}
	}
	if l.MaxHeaderBytes < 0 {
		problems = append(problems, "MaxHeaderBytes must not be negative")
	}
	if l.MaxConns < 0 {
		problems = append(problems, "MaxConns must not be negative")
	}
	if l.ReadHeaderTimeout > 0 && l.ReadTimeout > 0 && l.ReadHeaderTimeout > l.ReadTimeout {
		problems = append(problems, "ReadHeaderTimeout must not exceed ReadTimeout")
	}
	if len(problems) > 0 {
		return fmt.Errorf("httpserver: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Server is an HTTP server running on a listener under Limits.
type Server struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

// Listen listens on addr and serves h there (see Serve).
func Listen(addr string, h http.Handler, l Limits, log *slog.Logger) (*Server, error) {
	if err := l.Check(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return Serve(ln, h, l, log)
}

// Serve serves h on ln under l (zero fields: the defaults) until Shutdown. A failure of the
// listener is logged to log (nil: slog.Default()).
func Serve(ln net.Listener, h http.Handler, l Limits, log *slog.Logger) (*Server, error) {
	if err := l.Check(); err != nil {
		ln.Close()
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	l = l.WithDefaults()
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: l.ReadHeaderTimeout,
			ReadTimeout:       l.ReadTimeout,
			WriteTimeout:      l.WriteTimeout,
			IdleTimeout:       l.IdleTimeout,
			MaxHeaderBytes:    l.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		},
		addr: ln.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(netutil.LimitListener(ln, l.MaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "addr", s.addr.String(), "error", err)
		}
	}()
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.addr }

// URL is http://<the listen address>.
func (s *Server) URL() string { return "http://" + s.addr.String() }

// Shutdown stops accepting, lets requests in flight finish until ctx ends, then closes
// every connection.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	return err
}

// Stop is Shutdown with a grace period of timeout.
func (s *Server) Stop(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.Shutdown(ctx)
}

// Extend gives the request answered by w until read from now to arrive, and its answer
// DefaultWriteTimeout beyond that to leave, instead of the server's ReadTimeout and
// WriteTimeout. A handler calls it for a route whose bodies are large by design, after it has
// authenticated the caller, so that only callers it trusts get the longer budget.
func Extend(w http.ResponseWriter, read time.Duration) error {
	rc := http.NewResponseController(w)
	end := time.Now().Add(read)
	if err := rc.SetReadDeadline(end); err != nil {
		return fmt.Errorf("httpserver: extend the read deadline: %w", err)
	}
	if err := rc.SetWriteDeadline(end.Add(DefaultWriteTimeout)); err != nil {
		return fmt.Errorf("httpserver: extend the write deadline: %w", err)
	}
	return nil
}
