// Package codec encrypts Temporal payloads (AES-256-GCM) so that workflow inputs, results,
// signals, queries, memos and failure messages are stored by the Temporal server as
// ciphertext. Keys carry an id, written into each payload's metadata, so keys can be rotated:
// new payloads use the primary (newest) key and older ones still decrypt with theirs.
//
// The same codec serves the Temporal Web UI and CLI over HTTP (Handler), so an operator can
// still read payloads there.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Metadata written on every encrypted payload.
const (
	// Encoding is the value of the "encoding" metadata of an encrypted payload.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key a payload was encrypted with.
	MetadataKeyID = "encryption-key-id"
	// KeySize is the length of an AES-256 key in bytes.
	KeySize   = 32
	nonceSize = 12
)

var (
	// ErrUnknownKey means a payload names a key id the keyring does not hold.
	ErrUnknownKey = errors.New("unknown encryption key id")
	// ErrDecrypt means a payload could not be decrypted: wrong key, or altered ciphertext.
	ErrDecrypt = errors.New("payload decryption failed")
)

// Key is one named AES-256 key.
type Key struct {
	ID     string
	Secret []byte // KeySize bytes
}

// String hides the key material, so a Key printed by mistake leaks nothing.
func (k Key) String() string { return "codec.Key{ID:" + k.ID + "}" }

// GoString hides the key material from %#v too.
func (k Key) GoString() string { return k.String() }

// Keyring holds the keys payloads may be encrypted with. The first key is the primary one:
// it encrypts every new payload. A Keyring is safe for concurrent use (it never changes).
type Keyring struct {
	ids   []string // primary first
	aeads map[string]cipher.AEAD
}

// NewKeyring builds a keyring; keys[0] is the primary key. Ids must be unique, 1–64
// characters of [A-Za-z0-9._-]; every secret must be KeySize bytes.
func NewKeyring(keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: no keys: at least one is needed")
	}
	k := &Keyring{aeads: make(map[string]cipher.AEAD, len(keys))}
	for i, key := range keys {
		if err := validID(key.ID); err != nil {
			return nil, fmt.Errorf("codec: key %d: %w", i+1, err)
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("codec: key %d: duplicate key id %q", i+1, key.ID)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("codec: key %q: %d bytes, want %d (AES-256)", key.ID, len(key.Secret), KeySize)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", key.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", key.ID, err)
		}
		k.ids = append(k.ids, key.ID)
		k.aeads[key.ID] = aead
	}
	return k, nil
}

// GenerateKey returns a new random key with the given id.
func GenerateKey(id string) (Key, error) {
	if err := validID(id); err != nil {
		return Key{}, fmt.Errorf("codec: %w", err)
	}
	secret := make([]byte, KeySize)
	_, _ = rand.Read(secret) // crypto/rand never returns an error (it panics instead)
	return Key{ID: id, Secret: secret}, nil
}

// PrimaryID is the id of the key new payloads are encrypted with.
func (k *Keyring) PrimaryID() string { return k.ids[0] }

// IDs lists the key ids, primary first.
func (k *Keyring) IDs() []string { return slices.Clone(k.ids) }

func validID(id string) error {
	if id == "" {
		return errors.New("empty key id")
	}
	if len(id) > 64 {
		return fmt.Errorf("key id %q: longer than 64 characters", id[:64]+"…")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("key id %q: only letters, digits, '.', '_' and '-' are allowed", id)
		}
	}
	return nil
}

// Codec is the AES-256-GCM payload codec.
type Codec struct{ keys *Keyring }

var _ converter.PayloadCodec = (*Codec)(nil)

// New returns the payload codec of a keyring.
func New(k *Keyring) *Codec { return &Codec{keys: k} }

// Encode encrypts each payload whole (data and metadata, so even its encoding is hidden) with
// the primary key and a random nonce. The key id is authenticated along with the ciphertext.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	id := c.keys.ids[0]
	aead := c.keys.aeads[id]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("codec: marshal payload: %w", err)
		}
		buf := make([]byte, nonceSize, nonceSize+len(plain)+aead.Overhead())
		_, _ = rand.Read(buf)
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(id),
			},
			Data: aead.Seal(buf, buf, plain, []byte(id)),
		}
	}
	return out, nil
}

// Decode decrypts payloads this codec encrypted; others (written before encryption was turned
// on) pass through unchanged, so existing histories stay readable.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != Encoding {
			out[i] = p
			continue
		}
		id := string(p.GetMetadata()[MetadataKeyID])
		aead, ok := c.keys.aeads[id]
		if !ok {
			return payloads, fmt.Errorf("codec: payload encrypted with key id %q, which is not configured (have %s): %w",
				printable(id), strings.Join(c.keys.ids, ", "), ErrUnknownKey)
		}
		data := p.GetData()
		if len(data) < nonceSize+aead.Overhead() {
			return payloads, fmt.Errorf("codec: key id %q: ciphertext of %d bytes is too short: %w", id, len(data), ErrDecrypt)
		}
		plain, err := aead.Open(nil, data[:nonceSize], data[nonceSize:], []byte(id))
		if err != nil {
			return payloads, fmt.Errorf("codec: key id %q: wrong key or altered ciphertext: %w", id, ErrDecrypt)
		}
		var dec commonpb.Payload
		if err := proto.Unmarshal(plain, &dec); err != nil {
			return payloads, fmt.Errorf("codec: key id %q: decrypted payload is not a payload: %w", id, err)
		}
		out[i] = &dec
	}
	return out, nil
}

// printable bounds an id read from a payload before it goes into an error.
func printable(id string) string {
	if len(id) > 64 {
		id = id[:64] + "…"
	}
	return strings.ToValidUTF8(id, "?")
}

// DataConverter is the default data converter with every payload encrypted by k.
func DataConverter(k *Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), New(k))
}

// FailureConverter moves failure messages and stack traces into an encoded payload, so they
// are encrypted by dc too (the default converter leaves them in clear).
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return keptFailures{temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	})}
}

// keptFailures decodes a copy of the failure it is given: the default converter decodes the
// message into the failure itself, and the SDK hands a local activity's failure to the
// workflow while the marker that records it is still to be sent, which then went out with
// the message in clear beside its encrypted copy.
type keptFailures struct{ converter.FailureConverter }

func (k keptFailures) FailureToError(f *failurepb.Failure) error {
	if f == nil {
		return nil
	}
	return k.FailureConverter.FailureToError(proto.Clone(f).(*failurepb.Failure))
}
