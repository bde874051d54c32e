package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ListenAndServe listens on addr and serves the sandbox there (see Serve).
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves the sandbox on ln until ctx ends, then shuts down gracefully and closes the
// server. If no public URL is set, it becomes http://{the listen address} (a wildcard host is
// replaced by 127.0.0.1).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.PublicURL() == "" {
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		s.SetPublicURL("http://" + net.JoinHostPort(host, port))
	}
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		_ = s.Close()
		return fmt.Errorf("sandbox: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(shutdownCtx)
	_ = s.Close()
	if err != nil {
		return fmt.Errorf("sandbox: shutdown: %w", err)
	}
	return nil
}
