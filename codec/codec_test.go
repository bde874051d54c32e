package codec_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"

	"github.com/epcflow/epcflow/codec"
)

type order struct {
	LoanNumber string `json:"loanNumber"`
	Borrower   string `json:"borrower"`
}

func key(t *testing.T, id string) codec.Key {
	t.Helper()
	k, err := codec.GenerateKey(id)
	require.NoError(t, err)
	return k
}

func ring(t *testing.T, keys ...codec.Key) *codec.Keyring {
	t.Helper()
	r, err := codec.NewKeyring(keys...)
	require.NoError(t, err)
	return r
}

func TestRoundTripHidesTheWholePayload(t *testing.T) {
	k := ring(t, key(t, "k1"))
	dc := codec.DataConverter(k)
	in := order{LoanNumber: "LN-1", Borrower: "Pat Borrower"}

	p, err := dc.ToPayload(in)
	require.NoError(t, err)
	require.Equal(t, codec.Encoding, string(p.Metadata[converter.MetadataEncoding]))
	require.Equal(t, "k1", string(p.Metadata[codec.MetadataKeyID]))
	require.Len(t, p.Metadata, 2, "no other metadata in clear")
	require.NotContains(t, string(p.Data), "Pat Borrower")
	require.NotContains(t, string(p.Data), "json/plain", "the inner encoding is encrypted too")

	var out order
	require.NoError(t, dc.FromPayload(p, &out))
	require.Equal(t, in, out)

	// A fresh nonce each time: the same value never gives the same ciphertext.
	p2, err := dc.ToPayload(in)
	require.NoError(t, err)
	require.NotEqual(t, p.Data, p2.Data)
}

func TestRotation(t *testing.T) {
	old, next := key(t, "2025-01"), key(t, "2026-06")
	before := codec.DataConverter(ring(t, old))
	p, err := before.ToPayload(order{LoanNumber: "LN-OLD"})
	require.NoError(t, err)

	rotated := ring(t, next, old)
	require.Equal(t, "2026-06", rotated.PrimaryID())
	after := codec.DataConverter(rotated)
	var out order
	require.NoError(t, after.FromPayload(p, &out), "payloads of the old key still decrypt")
	require.Equal(t, "LN-OLD", out.LoanNumber)

	p2, err := after.ToPayload(order{LoanNumber: "LN-NEW"})
	require.NoError(t, err)
	require.Equal(t, "2026-06", string(p2.Metadata[codec.MetadataKeyID]), "new payloads use the primary key")
	require.Error(t, before.FromPayload(p2, &out), "the old keyring cannot read the new key's payloads")
}

func TestDecodeRejects(t *testing.T) {
	k1, k2 := key(t, "k1"), key(t, "k2")
	c := codec.New(ring(t, k1, k2))
	enc, err := c.Encode([]*commonpb.Payload{{Metadata: map[string][]byte{"encoding": []byte("json/plain")}, Data: []byte(`"x"`)}})
	require.NoError(t, err)
	good := enc[0]
	mutate := func(f func(p *commonpb.Payload)) *commonpb.Payload {
		p := &commonpb.Payload{Metadata: map[string][]byte{}, Data: bytes.Clone(good.Data)}
		for k, v := range good.Metadata {
			p.Metadata[k] = bytes.Clone(v)
		}
		f(p)
		return p
	}
	tests := []struct {
		name    string
		payload *commonpb.Payload
		is      error
		msg     string
	}{
		{"flipped ciphertext bit", mutate(func(p *commonpb.Payload) { p.Data[len(p.Data)-5] ^= 1 }), codec.ErrDecrypt, `key id "k1"`},
		{"flipped nonce bit", mutate(func(p *commonpb.Payload) { p.Data[0] ^= 1 }), codec.ErrDecrypt, "altered"},
		{"truncated", mutate(func(p *commonpb.Payload) { p.Data = p.Data[:10] }), codec.ErrDecrypt, "too short"},
		{"key id swapped", mutate(func(p *commonpb.Payload) { p.Metadata[codec.MetadataKeyID] = []byte("k2") }), codec.ErrDecrypt, `key id "k2"`},
		{"unknown key id", mutate(func(p *commonpb.Payload) { p.Metadata[codec.MetadataKeyID] = []byte("retired-2019") }), codec.ErrUnknownKey, `"retired-2019", which is not configured (have k1, k2)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Decode([]*commonpb.Payload{tt.payload})
			require.ErrorIs(t, err, tt.is)
			require.ErrorContains(t, err, tt.msg)
			for _, k := range []codec.Key{k1, k2} {
				require.NotContains(t, err.Error(), base64.StdEncoding.EncodeToString(k.Secret))
			}
		})
	}
}

func TestDecodePassesUnencryptedPayloadsThrough(t *testing.T) {
	// Histories written before encryption was turned on stay readable.
	plain, err := converter.GetDefaultDataConverter().ToPayload(order{LoanNumber: "LN-PLAIN"})
	require.NoError(t, err)
	var out order
	require.NoError(t, codec.DataConverter(ring(t, key(t, "k1"))).FromPayload(plain, &out))
	require.Equal(t, "LN-PLAIN", out.LoanNumber)
}

func TestFailureConverterEncryptsMessagesAndStacks(t *testing.T) {
	dc := codec.DataConverter(ring(t, key(t, "k1")))
	fc := codec.FailureConverter(dc)
	const secret = "account store said no for marker-pass-9c1e"
	f := fc.ErrorToFailure(temporal.NewApplicationError(secret, "Denied"))
	require.NotContains(t, f.GetMessage(), "marker")
	require.NotContains(t, f.GetStackTrace(), "marker")
	require.NotNil(t, f.GetEncodedAttributes())
	require.Equal(t, codec.Encoding, string(f.GetEncodedAttributes().GetMetadata()[converter.MetadataEncoding]))
	require.Equal(t, "Denied", f.GetApplicationFailureInfo().GetType(), "the error type stays readable for retry policies")

	err := fc.FailureToError(f)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, secret, appErr.Message())
}

// TestFailureConverterEncryptsFailuresPassedOn: a failure read back into an error and
// converted again stays encrypted at every level, and reading it leaves it as it was: the
// SDK decoded a local activity's failure in place while its marker was still to be sent,
// and the marker went out with the message in clear beside its encrypted copy.
func TestFailureConverterEncryptsFailuresPassedOn(t *testing.T) {
	dc := codec.DataConverter(ring(t, key(t, "k1")))
	fc := codec.FailureConverter(dc)
	const secret = "account store said no for marker-pass-9c1e"
	cause := temporal.NewApplicationError(secret, "Denied")
	passed := fc.FailureToError(fc.ErrorToFailure(temporal.NewApplicationErrorWithCause("outer "+secret, "Outer", cause)))
	f := fc.ErrorToFailure(passed)
	for g := f; g != nil; g = g.GetCause() {
		require.NotContains(t, g.GetMessage(), "marker")
		require.NotContains(t, g.GetStackTrace(), "marker")
		require.NotNil(t, g.GetEncodedAttributes())
	}
	// Decoding leaves the failure it reads as it was: the SDK may still send it (a local
	// activity's failure goes to the workflow before its marker goes to the server).
	before := proto.Clone(f)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, fc.FailureToError(f), &appErr)
	require.True(t, proto.Equal(before, f), "the failure was decoded in place")
	require.Equal(t, "outer "+secret, appErr.Message())
	require.Equal(t, secret, errors.Unwrap(appErr).(*temporal.ApplicationError).Message())
}

func TestNewKeyringValidates(t *testing.T) {
	good := key(t, "a")
	tests := []struct {
		name string
		keys []codec.Key
		msg  string
	}{
		{"none", nil, "no keys"},
		{"short key", []codec.Key{{ID: "a", Secret: make([]byte, 16)}}, `key "a": 16 bytes, want 32`},
		{"duplicate", []codec.Key{good, good}, `key 2: duplicate key id "a"`},
		{"bad id", []codec.Key{{ID: "a b", Secret: good.Secret}}, `key id "a b": only letters`},
		{"empty id", []codec.Key{{Secret: good.Secret}}, "empty key id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := codec.NewKeyring(tt.keys...)
			require.ErrorContains(t, err, tt.msg)
		})
	}
	require.NotContains(t, good.String()+" "+good.GoString(), base64.StdEncoding.EncodeToString(good.Secret))
}

func TestParseKeys(t *testing.T) {
	k1, k2 := key(t, "id1"), key(t, "id2")
	b1, b2 := base64.StdEncoding.EncodeToString(k1.Secret), base64.StdEncoding.EncodeToString(k2.Secret)
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))

	r, err := codec.ParseKeys("id2:" + b2 + ", id1:" + b1)
	require.NoError(t, err)
	require.Equal(t, []string{"id2", "id1"}, r.IDs())
	r, err = codec.ParseKeys("# comment\nid2:" + strings.TrimRight(b2, "=") + "\n\nid1:" + b1 + "\n")
	require.NoError(t, err, "newlines, comments and unpadded base64 are fine")
	require.Equal(t, "id2", r.PrimaryID())

	// A payload written with the parsed ring decodes with a ring made from the same keys.
	p, err := codec.DataConverter(r).ToPayload("x")
	require.NoError(t, err)
	var s string
	require.NoError(t, codec.DataConverter(ring(t, k1, k2)).FromPayload(p, &s))

	tests := []struct {
		name, in, msg string
	}{
		{"empty", " , ", "codec keys: none given"},
		{"no colon", "id1" + b1, "entry 1: want id:base64key"},
		{"no key", "id1:", "entry 1: want id:base64key"},
		{"bad base64", "id1:" + b1 + ",id2:not*base64!", `entry 2 (id "id2"): key is not valid base64: illegal base64 data at input byte 3`},
		{"wrong length", "id1:" + short, `entry 1 (id "id1"): key is 31 bytes, want 32`},
		{"duplicate", "id1:" + b1 + ",id1:" + b2, `duplicate key id "id1"`},
		{"bad id", "id 1:" + b1, `entry 1: key id "id 1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := codec.ParseKeys(tt.in)
			require.ErrorContains(t, err, tt.msg)
			require.NotContains(t, err.Error(), b1)
			require.NotContains(t, err.Error(), b2)
		})
	}
	require.Equal(t, "id1:"+b1+",id2:"+b2, codec.FormatKeys(k1, k2))
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "codec-keys")
	first, err := codec.LoadOrCreateKeyFile(path)
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	require.True(t, strings.HasPrefix(first.PrimaryID(), "local-"), first.PrimaryID())

	p, err := codec.DataConverter(first).ToPayload("kept across restarts")
	require.NoError(t, err)
	second, err := codec.LoadOrCreateKeyFile(path)
	require.NoError(t, err, "the second start reuses the file")
	require.Equal(t, first.IDs(), second.IDs())
	var s string
	require.NoError(t, codec.DataConverter(second).FromPayload(p, &s))
	require.Equal(t, "kept across restarts", s)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")

	require.NoError(t, os.Chmod(path, 0o644))
	_, err = codec.LoadOrCreateKeyFile(path)
	require.ErrorContains(t, err, "permissions 0644 let others read it: chmod 600")

	bad := filepath.Join(t.TempDir(), "codec-keys")
	require.NoError(t, os.WriteFile(bad, []byte("k:tooshort\n"), 0o600))
	_, err = codec.LoadOrCreateKeyFile(bad)
	require.ErrorContains(t, err, "codec key file "+bad+": codec keys: entry 1 (id \"k\")")
}

func TestEphemeral(t *testing.T) {
	a, b := codec.Ephemeral(), codec.Ephemeral()
	require.NotEqual(t, a.PrimaryID(), b.PrimaryID())
	p, err := codec.DataConverter(a).ToPayload(1)
	require.NoError(t, err)
	var n int
	require.True(t, errors.Is(codec.DataConverter(b).FromPayload(p, &n), codec.ErrUnknownKey))
}
