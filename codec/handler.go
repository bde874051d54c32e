package codec

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"go.temporal.io/sdk/converter"
)

// DefaultMaxBodyBytes bounds a codec request: the UI sends a few payloads at a time, and the
// Temporal server refuses payloads over 2 MiB.
const DefaultMaxBodyBytes = 8 << 20

// HandlerOptions configures Handler.
type HandlerOptions struct {
	// Token, when set, is required as "Authorization: Bearer <token>" on every request.
	//
	// When empty, the handler trusts the network and the browser instead, as fits
	// `epcflow dev`: it answers only requests from a loopback address, and, for requests a
	// browser makes (those with an Origin header), only from AllowedOrigins. The embedded UI
	// has no login, so that is all it could present. Production sets a token.
	Token string
	// AllowedOrigins are the browser origins (scheme://host:port, e.g. the Temporal UI's) that
	// may call the handler; they get CORS headers. Requests from other origins get 403.
	AllowedOrigins []string
	// MaxBodyBytes bounds a request body (default DefaultMaxBodyBytes; larger gets 413).
	MaxBodyBytes int64
}

// Handler serves the codec over HTTP as the Temporal UI and CLI expect it: POST
// <base>/encode and <base>/decode with a JSON {"payloads":[…]} body. Mount it under a prefix,
// e.g. /codec, and give that URL to the UI (codec endpoint) or the CLI (--codec-endpoint).
// Errors are JSON: {"error": "..."}.
func Handler(k *Keyring, opts HandlerOptions) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	h := &handler{opts: opts, codec: converter.NewPayloadCodecHTTPHandler(New(k))}
	if opts.Token != "" {
		sum := sha256.Sum256([]byte(opts.Token))
		h.tokenSum = sum[:]
	}
	return h
}

type handler struct {
	opts     HandlerOptions
	tokenSum []byte
	codec    http.Handler
}

// corsAllowHeaders are the headers the Temporal UI sends to a codec server.
const corsAllowHeaders = "Content-Type, Authorization, Authorization-Extras, X-Namespace"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); origin != "" {
		if !slices.Contains(h.opts.AllowedOrigins, origin) {
			writeError(w, http.StatusForbidden, "origin "+strconv.Quote(truncate(origin, 100))+" is not allowed to use this codec server")
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Add("Vary", "Origin")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			// A preflight carries no credentials: answer it before authentication.
			w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", corsAllowHeaders)
			w.Header().Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if !h.authorized(w, r) {
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed: POST <codec>/encode or <codec>/decode")
		return
	}
	if p := r.URL.Path; !strings.HasSuffix(p, "/encode") && !strings.HasSuffix(p, "/decode") {
		writeError(w, http.StatusNotFound, "no such codec operation: POST <codec>/encode or <codec>/decode")
		return
	}
	if r.ContentLength > h.opts.MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(h.opts.MaxBodyBytes, 10)+" bytes")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes)

	// The SDK's handler answers errors in plain text: buffer its answer to give ours in JSON.
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	h.codec.ServeHTTP(rec, r)
	if rec.status >= 400 {
		msg := strings.TrimSpace(rec.body.String())
		status := rec.status
		if strings.Contains(msg, "http: request body too large") {
			status, msg = http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(h.opts.MaxBodyBytes, 10)+" bytes"
		}
		writeError(w, status, truncate(msg, 1000))
		return
	}
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.Header().Set("Cache-Control", "no-store") // decoded payloads may hold borrower data
	w.WriteHeader(rec.status)
	_, _ = w.Write(rec.body.Bytes())
}

// authorized checks the bearer token, or, without one, that the request comes from this
// machine. It writes the refusal itself.
func (h *handler) authorized(w http.ResponseWriter, r *http.Request) bool {
	if h.tokenSum != nil {
		got, ok := bearer(r.Header.Get("Authorization"))
		// Hash both sides so the compare is constant-time whatever the lengths.
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], h.tokenSum) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="epcflow codec"`)
			writeError(w, http.StatusUnauthorized, "codec token required: Authorization: Bearer <token>")
			return false
		}
		return true
	}
	if !loopback(r.RemoteAddr) {
		writeError(w, http.StatusForbidden, "this codec server has no token configured and only answers requests from this machine")
		return false
	}
	return true
}

func loopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func bearer(h string) (string, bool) {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	return strings.TrimSpace(h[len(scheme):]), true
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// recorder buffers a response.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
