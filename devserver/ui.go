//go:build !production

package devserver

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uioptions "github.com/temporalio/ui-server/v2/server/server_options"
)

type uiServer struct {
	srv  *uiserver.Server
	done chan struct{} // closed when the serving goroutine returns
}

// startUI serves the Temporal Web UI on host:port for the frontend at
// frontendAddr and returns once it accepts connections.
//
// The ui-server's Start blocks and, on a listen error, exits the process
// through echo's Fatal (it takes no listener), so the caller checks or picks
// the port just before; Start runs in a goroutine that stop waits for.
func startUI(ctx context.Context, host string, port int, frontendAddr, namespace, codecEndpoint string) (*uiServer, error) {
	origin := "http://" + net.JoinHostPort(dialHost(host), strconv.Itoa(port))
	bindHost := host
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		bindHost = "[" + host + "]" // the UI joins host and port with a plain ':'
	}
	srv := uiserver.NewServer(uioptions.WithConfigProvider(&uiconfig.Config{
		Host:                bindHost,
		Port:                port,
		TemporalGRPCAddress: frontendAddr,
		EnableUI:            true,
		DefaultNamespace:    namespace,
		Codec:               uiconfig.Codec{Endpoint: codecEndpoint},
		// Plain HTTP on loopback: the CSRF cookie must not require HTTPS.
		CORS:             uiconfig.CORS{AllowOrigins: []string{origin}, CookieInsecure: true},
		HideLogs:         true,
		DisableNewsFetch: true, // no phoning home from a dev tool
	}))
	u := &uiServer{srv: srv, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		_ = srv.Start() // returns nil once Stop closes it
	}()

	addr := net.JoinHostPort(dialHost(host), strconv.Itoa(port))
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = conn.Close()
			return u, nil
		}
		select {
		case <-ctx.Done():
			u.stop()
			return nil, fmt.Errorf("wait for UI on %s: %w", addr, ctx.Err())
		case <-u.done:
			return nil, fmt.Errorf("UI server on %s stopped while starting", addr)
		case <-tick.C:
		}
	}
}

func (u *uiServer) stop() {
	u.srv.Stop()
	<-u.done
}
