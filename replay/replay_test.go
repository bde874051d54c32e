package replay_test

import (
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"

	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/replay"
)

// TestReplayEncryptedHistories replays histories recorded from real runs with payload
// encryption on (the test key in testdata/codec-test-keys; regenerate with
// `EPCFLOW_UPDATE_HISTORIES=1 go test ./integration/ -run NoSecretLeaks`), as after a key
// rotation: a new primary key, the old one kept for decryption.
func TestReplayEncryptedHistories(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "encrypted", "*.json"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(paths), 4, "recorded encrypted histories in testdata/encrypted")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.Contains(t, string(b), base64.StdEncoding.EncodeToString([]byte(codec.Encoding)), "%s is encrypted", p)
	}
	testKeys := testkit.Fixture(t, "replay/testdata/codec-test-keys")
	newKey, err := codec.GenerateKey("rotated-2026-07")
	require.NoError(t, err)
	rotated, err := codec.ParseKeys(codec.FormatKeys(newKey) + "\n" + string(testKeys))
	require.NoError(t, err)
	require.Equal(t, []string{"rotated-2026-07", "test-2026-01"}, rotated.IDs())
	log := testkit.Logger(t, slog.LevelError)

	for _, r := range replay.Files(log, paths, codec.DataConverter(rotated)) {
		t.Run(r.Name, func(t *testing.T) {
			require.NoError(t, r.Err)
		})
	}

	// Without the key that wrote them, they cannot be replayed: the error says which key is needed.
	onlyNew, err := codec.NewKeyring(newKey)
	require.NoError(t, err)
	for _, dc := range []converter.DataConverter{codec.DataConverter(onlyNew), nil} {
		// The SDK logs the failed replay as a workflow panic: keep it out of the test output.
		for _, r := range replay.Files(slog.New(slog.DiscardHandler), paths[:1], dc) {
			require.ErrorContains(t, r.Err, "encrypted with key id test-2026-01: replay needs those keys")
		}
	}
}
