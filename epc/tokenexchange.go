package epc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"
)

// tokenExchange is the transport of one token request made by x/oauth2: it adds the headers
// the library leaves out, logs the exchange like every other one (one line once the reply
// is read), and keeps what failed on the wire so that the error can be classified.
type tokenExchange struct {
	c      *Client
	ctx    context.Context
	method string
	start  time.Time
	status int
	failed error // transport or body read error
}

// httpClient is the client the library sends with: the configured one, through x.
func (x *tokenExchange) httpClient() *http.Client {
	hc := x.c.hc
	return &http.Client{Transport: x, Timeout: hc.Timeout, CheckRedirect: hc.CheckRedirect, Jar: hc.Jar}
}

func (x *tokenExchange) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", x.c.ua)
	base := x.c.hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	x.method, x.start = req.Method, time.Now()
	resp, err := base.RoundTrip(req)
	if err != nil {
		x.failed = err
		x.log()
		return nil, err
	}
	x.status = resp.StatusCode
	resp.Body = &tokenBody{ReadCloser: resp.Body, x: x}
	return resp, nil
}

func (x *tokenExchange) log() {
	var err error
	if x.failed != nil {
		err = x.c.transportError(x.ctx, x.method, tokenPath, x.failed)
	}
	x.c.logExchange(x.ctx, x.method, tokenPath, x.status, time.Since(x.start), err)
}

// failedOr is the error seen on the wire, else err.
func (x *tokenExchange) failedOr(err error) error {
	if x.failed != nil {
		return x.failed
	}
	return err
}

// tokenBody notes a read error and logs the exchange when the library closes the body.
type tokenBody struct {
	io.ReadCloser
	x *tokenExchange
}

func (b *tokenBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.x.failed = err
	}
	return n, err
}

func (b *tokenBody) Close() error {
	err := b.ReadCloser.Close()
	b.x.log()
	return err
}
