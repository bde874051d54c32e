package devserver

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// assignPorts replaces every 0 in ports with a distinct free TCP port on host
// and checks that every fixed port can be bound. All listeners are held until
// the whole set is known, so the picks differ from each other and from the
// fixed ports; they are released for the server to bind right after, which
// leaves the usual small pick-then-bind window.
func assignPorts(host string, ports ...*int) error {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	for _, p := range ports {
		if *p == 0 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(*p)))
		if err != nil {
			return fmt.Errorf("port %d on %s is not available: %w", *p, host, err)
		}
		held = append(held, l)
	}
	for _, p := range ports {
		if *p != 0 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return fmt.Errorf("pick a free port on %s: %w", host, err)
		}
		held = append(held, l)
		addr, ok := l.Addr().(*net.TCPAddr)
		if !ok {
			return errors.New("pick a free port: listener has no TCP address")
		}
		*p = addr.Port
	}
	return nil
}

// dialHost is the address clients use to reach a server bound on host: a
// wildcard bind is reached through loopback.
func dialHost(host string) string {
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if ip.To4() == nil {
			return "::1"
		}
		return "127.0.0.1"
	}
	return host
}
