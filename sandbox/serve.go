package sandbox

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/epcflow/epcflow/internal/httpserver"
	"time"
)

// ListenAndServe listens on addr and serves the sandbox there (see Serve).
func (s *Server) ListenAndServe(ctx context.Context, addr string, l httpserver.Limits) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen: %w", err)
	}
	return s.Serve(ctx, ln, l)
}

// Serve serves the sandbox on ln until ctx ends, then shuts down gracefully and closes the
// server. l bounds the listener (zero fields: httpserver's defaults). If no public URL is set, it becomes http://{the listen address} (a wildcard host is
// replaced by 127.0.0.1).
func (s *Server) Serve(ctx context.Context, ln net.Listener, l httpserver.Limits) error {
	if s.PublicURL() == "" {
		host, port, _ := net.SplitHostPort(ln.Addr().String())
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		s.SetPublicURL("http://" + net.JoinHostPort(host, port))
	}
	log := s.cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hs, err := httpserver.Serve(ln, s.Handler(), l, log)
	if err != nil {
		_ = s.Close()
		return fmt.Errorf("sandbox: serve: %w", err)
	}
	<-ctx.Done()
	err = hs.Stop(5 * time.Second)
	_ = s.Close()
	if err != nil {
		return fmt.Errorf("sandbox: shutdown: %w", err)
	}
	return nil
}
