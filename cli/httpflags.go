package cli

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/epcflow/epcflow/internal/httpserver"
)

// httpFlags are the limits of an HTTP listener (package httpserver), shared by dev, api and
// sandbox.
type httpFlags struct{ l httpserver.Limits }

// register adds the flags; envPrefix, when set, names their environment variables
// (<prefix>HTTP_READ_TIMEOUT…).
func (h *httpFlags) register(f *flags, envPrefix string) {
	env := func(name string) string {
		if envPrefix == "" {
			return ""
		}
		return envPrefix + name
	}
	f.duration(&h.l.ReadTimeout, "http-read-timeout", env("HTTP_READ_TIMEOUT"), httpserver.DefaultReadTimeout,
		"time a whole request (headers and body) may take to arrive; a slower one is cut off (ICE gives up on a webhook after 30s)")
	f.duration(&h.l.ReadHeaderTimeout, "http-read-header-timeout", env("HTTP_READ_HEADER_TIMEOUT"), httpserver.DefaultReadHeaderTimeout,
		"time a request's headers may take to arrive")
	f.duration(&h.l.WriteTimeout, "http-write-timeout", env("HTTP_WRITE_TIMEOUT"), httpserver.DefaultWriteTimeout,
		"time from a request's headers to the end of its answer")
	f.duration(&h.l.IdleTimeout, "http-idle-timeout", env("HTTP_IDLE_TIMEOUT"), httpserver.DefaultIdleTimeout,
		"time an idle keep-alive connection is kept")
	f.integer(&h.l.MaxHeaderBytes, "http-max-header-bytes", env("HTTP_MAX_HEADER_BYTES"), httpserver.DefaultMaxHeaderBytes,
		"largest request line and headers, in bytes")
	f.integer(&h.l.MaxConns, "http-max-connections", env("HTTP_MAX_CONNECTIONS"), httpserver.DefaultMaxConns,
		"connections open at once (idle keep-alives included); more wait in the kernel's accept queue")
}

// limits returns the limits, refusing a value that is not positive, by its flag.
func (h *httpFlags) limits() (httpserver.Limits, error) {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"http-read-timeout", h.l.ReadTimeout}, {"http-read-header-timeout", h.l.ReadHeaderTimeout},
		{"http-write-timeout", h.l.WriteTimeout}, {"http-idle-timeout", h.l.IdleTimeout},
	} {
		if d.v <= 0 {
			return h.l, usageErr("--%s %v: must be positive", d.flag, d.v)
		}
	}
	if h.l.MaxHeaderBytes <= 0 {
		return h.l, usageErr("--http-max-header-bytes %d: must be positive", h.l.MaxHeaderBytes)
	}
	if h.l.MaxConns <= 0 {
		return h.l, usageErr("--http-max-connections %d: must be positive", h.l.MaxConns)
	}
	if h.l.ReadHeaderTimeout > h.l.ReadTimeout {
		return h.l, usageErr("--http-read-header-timeout %v: must not exceed --http-read-timeout %v", h.l.ReadHeaderTimeout, h.l.ReadTimeout)
	}
	return h.l, nil
}

// serve runs h on addr under l until the returned stop is called.
func serve(addr string, h http.Handler, l httpserver.Limits, log *slog.Logger) (stop func(), err error) {
	s, err := httpserver.Listen(addr, h, l, log)
	if err != nil {
		return nil, err
	}
	return func() { _ = s.Stop(10 * time.Second) }, nil
}
