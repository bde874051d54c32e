// Package slowloris is the slow client of the tests that check a server's read limits
// (package httpserver): it sends a request's headers, then its body one byte at a time.
package slowloris

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Request is a POST whose body is sent a byte at a time.
type Request struct {
	Addr, Path string
	// Header lines, e.g. "Content-Type: application/json" (Host, Content-Length and
	// Connection: close are added).
	Header []string
	// Body is sent a byte at a time; without it, Size bytes of "x".
	Body []byte
	Size int
	// Interval is the time between two bytes of the body.
	Interval time.Duration
}

// Result is how the connection ended.
type Result struct {
	// Answer is what the server sent before closing the connection ("" if nothing).
	Answer string
	// Sent counts the body bytes written.
	Sent int
	// Stopped is true when stop ended the trickle, not the server.
	Stopped bool
}

// Trickle sends r and trickles its body until the server closes the connection or stop is
// closed (nil: never).
func Trickle(r Request, stop <-chan struct{}) (Result, error) {
	if r.Body == nil {
		r.Body = []byte(strings.Repeat("x", r.Size))
	}
	r.Size = len(r.Body)
	conn, err := net.Dial("tcp", r.Addr)
	if err != nil {
		return Result{}, err
	}
	defer conn.Close()
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n", r.Path, r.Addr, r.Size)
	for _, h := range r.Header {
		head += h + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		return Result{}, err
	}
	read := make(chan string, 1)
	go func() {
		var b strings.Builder
		_, _ = io.Copy(&b, conn) // until the server closes the connection
		read <- b.String()
	}()
	tick := time.NewTicker(r.Interval)
	defer tick.Stop()
	var res Result
	for {
		select {
		case res.Answer = <-read:
			return res, nil
		case <-stop:
			res.Stopped = true
			return res, nil
		case <-tick.C:
			if res.Sent < r.Size {
				if _, err := conn.Write(r.Body[res.Sent : res.Sent+1]); err == nil {
					res.Sent++
				}
			}
		}
	}
}
