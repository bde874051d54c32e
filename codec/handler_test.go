package codec_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/epcflow/epcflow/codec"
)

const uiOrigin = "http://127.0.0.1:8233"

type codecServer struct {
	t   *testing.T
	url string
}

func newCodecServer(t *testing.T, k *codec.Keyring, opts codec.HandlerOptions) *codecServer {
	mux := http.NewServeMux()
	mux.Handle("/codec/", codec.Handler(k, opts))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &codecServer{t: t, url: srv.URL + "/codec"}
}

func (s *codecServer) do(method, op string, body []byte, header map[string]string) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.url+op, bytes.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp, b
}

func payloadsJSON(t *testing.T, ps ...*commonpb.Payload) []byte {
	b, err := protojson.Marshal(&commonpb.Payloads{Payloads: ps})
	require.NoError(t, err)
	return b
}

func parsePayloads(t *testing.T, b []byte) []*commonpb.Payload {
	var ps commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(b, &ps), "%s", b)
	return ps.Payloads
}

func errorOf(t *testing.T, resp *http.Response, body []byte) string {
	t.Helper()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s", body)
	var e struct {
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &e), "%s", body)
	return e.Error
}

func TestHandlerEncodeDecode(t *testing.T) {
	k := ring(t, key(t, "k1"))
	plain, err := converter.GetDefaultDataConverter().ToPayload(order{LoanNumber: "LN-UI", Borrower: "Pat"})
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		opts   codec.HandlerOptions
		header map[string]string
	}{
		{"dev: no token, loopback", codec.HandlerOptions{}, nil},
		{"with token", codec.HandlerOptions{Token: "codec-token-1"}, map[string]string{"Authorization": "Bearer codec-token-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newCodecServer(t, k, tc.opts)
			resp, body := s.do(http.MethodPost, "/encode", payloadsJSON(t, plain), tc.header)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
			require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			enc := parsePayloads(t, body)
			require.Len(t, enc, 1)
			require.Equal(t, codec.Encoding, string(enc[0].Metadata["encoding"]))
			require.NotContains(t, string(body), "LN-UI")

			// What the UI does with a history payload.
			resp, body = s.do(http.MethodPost, "/decode?preserveStorageRefs=true", payloadsJSON(t, enc...), tc.header)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
			dec := parsePayloads(t, body)
			var out order
			require.NoError(t, converter.GetDefaultDataConverter().FromPayload(dec[0], &out))
			require.Equal(t, "LN-UI", out.LoanNumber)
		})
	}
}

func TestHandlerRefuses(t *testing.T) {
	k := ring(t, key(t, "k1"))
	withToken := newCodecServer(t, k, codec.HandlerOptions{Token: "codec-token-1", AllowedOrigins: []string{uiOrigin}})
	open := newCodecServer(t, k, codec.HandlerOptions{AllowedOrigins: []string{uiOrigin}, MaxBodyBytes: 1024})
	other := codec.New(ring(t, key(t, "other-key")))
	foreign, err := other.Encode([]*commonpb.Payload{{Data: []byte("x")}})
	require.NoError(t, err)
	valid := payloadsJSON(t, &commonpb.Payload{Data: []byte("x")})

	tests := []struct {
		name   string
		s      *codecServer
		method string
		op     string
		body   []byte
		header map[string]string
		status int
		msg    string
	}{
		{"no token", withToken, "POST", "/decode", valid, nil, 401, "codec token required"},
		{"wrong token", withToken, "POST", "/decode", valid, map[string]string{"Authorization": "Bearer nope"}, 401, "codec token required"},
		{"basic auth", withToken, "POST", "/decode", valid, map[string]string{"Authorization": "Basic Y29kZWM="}, 401, "codec token required"},
		{"origin not allowed", open, "POST", "/decode", valid, map[string]string{"Origin": "https://evil.example"}, 403, `origin "https://evil.example" is not allowed`},
		{"GET", open, "GET", "/decode", nil, nil, 405, "method GET not allowed"},
		{"unknown operation", open, "POST", "/compress", valid, nil, 404, "no such codec operation"},
		{"not JSON", open, "POST", "/decode", []byte("{"), nil, 400, "unexpected EOF"},
		{"too large", open, "POST", "/decode", bytes.Repeat([]byte(" "), 2048), nil, 413, "body larger than 1024 bytes"},
		{"unknown key", open, "POST", "/decode", payloadsJSON(t, foreign...), nil, 400, `key id "other-key", which is not configured (have k1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.s.do(tt.method, tt.op, tt.body, tt.header)
			require.Equal(t, tt.status, resp.StatusCode, "%s", body)
			require.Contains(t, errorOf(t, resp, body), tt.msg)
		})
	}
}

func TestHandlerWithoutTokenOnlyAnswersThisMachine(t *testing.T) {
	h := codec.Handler(ring(t, key(t, "k1")), codec.HandlerOptions{})
	req := httptest.NewRequest(http.MethodPost, "/codec/decode", strings.NewReader(`{"payloads":[]}`))
	req.RemoteAddr = "203.0.113.7:50000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusForbidden, rec.Code)
	require.Contains(t, rec.Body.String(), "only answers requests from this machine")

	// With a token, the address does not matter.
	h = codec.Handler(ring(t, key(t, "k1")), codec.HandlerOptions{Token: "t"})
	req.Header.Set("Authorization", "Bearer t")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
}

func TestHandlerCORS(t *testing.T) {
	s := newCodecServer(t, ring(t, key(t, "k1")), codec.HandlerOptions{Token: "codec-token-1", AllowedOrigins: []string{uiOrigin}})

	// The browser's preflight carries no token and is answered.
	resp, body := s.do(http.MethodOptions, "/decode", nil, map[string]string{
		"Origin": uiOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
	})
	require.Equal(t, http.StatusNoContent, resp.StatusCode, "%s", body)
	require.Equal(t, uiOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"))
	require.Contains(t, resp.Header.Get("Access-Control-Allow-Methods"), "POST")
	for _, h := range []string{"Content-Type", "Authorization", "X-Namespace"} {
		require.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), h)
	}
	require.Contains(t, resp.Header.Values("Vary"), "Origin")

	// Another origin gets no CORS grant.
	resp, _ = s.do(http.MethodOptions, "/decode", nil, map[string]string{"Origin": "http://127.0.0.1:9999", "Access-Control-Request-Method": "POST"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))

	// The actual request from the UI gets the grant too, and still needs the token.
	resp, body = s.do(http.MethodPost, "/decode", payloadsJSON(t), map[string]string{"Origin": uiOrigin, "X-Namespace": "default"})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "%s", body)
	require.Equal(t, uiOrigin, resp.Header.Get("Access-Control-Allow-Origin"), "so the UI can read the error")
	resp, body = s.do(http.MethodPost, "/decode", payloadsJSON(t), map[string]string{"Origin": uiOrigin, "X-Namespace": "default", "Authorization": "Bearer codec-token-1"})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Equal(t, uiOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
}
