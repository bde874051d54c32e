package workflows_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/replay"
)

// TestReplayRecordedHistories replays the histories recorded from real runs (see
// integration/harness_test.go; regenerate with `EPCFLOW_UPDATE_HISTORIES=1 go test
// ./integration/`). A change to workflow code that is not versioned fails here.
func TestReplayRecordedHistories(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "histories", "*", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, paths, "no recorded histories in testdata/histories")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, r := range replay.Files(log, paths, nil) {
		t.Run(r.Name, func(t *testing.T) {
			require.NoError(t, r.Err)
		})
	}
}
