package codec

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/epcflow/epcflow/internal/secretfile"
)

// ParseKeys reads a key list as configured in EPCFLOW_CODEC_KEYS: comma- or newline-separated
// "id:base64key" entries, the first being the primary key; blank entries and lines starting
// with '#' are ignored. Keys are 32 random bytes in standard base64 (`openssl rand -base64 32`).
// Errors name the entry and its id, never the key.
func ParseKeys(s string) (*Keyring, error) {
	var keys []Key
	n := 0
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, entry := range strings.Split(line, ",") {
			entry = strings.TrimSpace(entry)
			if entry == "" {
				continue
			}
			n++
			id, b64, ok := strings.Cut(entry, ":")
			id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
			if !ok || id == "" || b64 == "" {
				return nil, fmt.Errorf("codec keys: entry %d: want id:base64key", n)
			}
			if err := validID(id); err != nil {
				return nil, fmt.Errorf("codec keys: entry %d: %w", n, err)
			}
			secret, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				if raw, err2 := base64.RawStdEncoding.DecodeString(b64); err2 == nil {
					secret, err = raw, nil
				}
			}
			if err != nil {
				// The base64 package's message gives a position, never the data.
				return nil, fmt.Errorf("codec keys: entry %d (id %q): key is not valid base64: %w", n, id, err)
			}
			if len(secret) != KeySize {
				return nil, fmt.Errorf("codec keys: entry %d (id %q): key is %d bytes, want %d (AES-256; make one with `openssl rand -base64 32`)", n, id, len(secret), KeySize)
			}
			keys = append(keys, Key{ID: id, Secret: secret})
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("codec keys: none given: want id:base64key[,id:base64key…], primary first")
	}
	return NewKeyring(keys...)
}

// FormatKeys writes keys in the form ParseKeys reads, primary first.
func FormatKeys(keys ...Key) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k.ID + ":" + base64.StdEncoding.EncodeToString(k.Secret)
	}
	return strings.Join(parts, ",")
}

// Ephemeral returns a keyring of one fresh random key that lives only in memory: for an
// in-memory dev database, whose histories die with the process anyway.
func Ephemeral() *Keyring {
	k, _ := GenerateKey("ephemeral-" + randomHex(4))
	ring, _ := NewKeyring(k)
	return ring
}

// LoadOrCreateKeyFile reads the key file at path (the ParseKeys format, one entry a line,
// primary first) or, when there is none, creates it with one new random key, readable by its
// owner only (0600). For development: production passes keys through configuration.
//
// An existing file readable by others is refused, as ssh does with private keys.
func LoadOrCreateKeyFile(path string) (*Keyring, error) {
	b, err := secretfile.LoadOrCreate(path, "codec key file", func() (string, error) {
		key, err := GenerateKey("local-" + time.Now().UTC().Format("20060102") + "-" + randomHex(3))
		if err != nil {
			return "", err
		}
		return "# epcflow payload encryption keys (development). One id:base64key a line; the first\n" +
			"# encrypts new payloads, the others still decrypt old ones. Losing this file makes the\n" +
			"# payloads in the Temporal database unreadable.\n" + FormatKeys(key) + "\n", nil
	})
	if err != nil {
		return nil, err
	}
	k, err := ParseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("codec key file %s: %w", path, err)
	}
	return k, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
