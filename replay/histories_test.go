package replay_test

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/epcflow/epcflow/internal/testkit"
	"github.com/epcflow/epcflow/replay"
	"github.com/epcflow/epcflow/vocab"
	"github.com/epcflow/epcflow/workflows"
)

// historyDirs finds every testdata/histories directory in the repository, so histories
// recorded for a new flow or in a new place are replayed without touching this test.
func historyDirs(t *testing.T) []string {
	t.Helper()
	var dirs []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if path != ".." && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.Name() == "histories" && filepath.Base(filepath.Dir(path)) == "testdata" {
			dirs = append(dirs, path)
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, dirs, "no testdata/histories directory in the repository")
	return dirs
}

// TestReplayEveryRecordedHistory replays every history recorded from real runs (see
// integration/harness_test.go; regenerate with `EPCFLOW_UPDATE_HISTORIES=1 go test
// ./integration/`), of every workflow type. A change to workflow code that is not versioned
// fails here.
func TestReplayEveryRecordedHistory(t *testing.T) {
	paths, bad := replay.Paths(historyDirs(t))
	require.Empty(t, bad)
	log := testkit.Logger(t, slog.LevelWarn)
	types := map[string]int{}
	for _, r := range replay.Files(log, paths, nil) {
		t.Run(r.Name, func(t *testing.T) {
			require.Equal(t, replay.OK, r.Kind, "%v", r.Err)
			require.NoError(t, r.Err)
		})
		types[r.Type]++
	}
	for _, name := range workflows.WorkflowNames() {
		require.Positive(t, types[name], "no recorded history of workflow type %s", name)
	}
}

// TestReplayTellsFailuresApart: a history of a type this build lacks, a file that is not a
// history and a missing file are each reported as what they are, not as non-determinism; a
// history whose commands the code no longer emits is.
func TestReplayTellsFailuresApart(t *testing.T) {
	dir := t.TempDir()
	orig := testkit.Fixture(t, "workflows/testdata/histories/delivery/package-expired.json")
	unknown := strings.Replace(string(orig), `"`+workflows.PackageWorkflowName+`"`, `"RetiredWorkflow"`, 1)
	require.NotEqual(t, string(orig), unknown)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "unknown.json"), []byte(unknown), 0o600))
	// A payment session whose history says it read the session with another activity.
	pay := testkit.Fixture(t, "workflows/testdata/histories/payment/expired.json")
	changed := strings.Replace(string(pay), `"`+workflows.ActivityInbankGetSession+`"`, `"InbankReadSession"`, 1)
	require.NotEqual(t, string(pay), changed)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "changed.json"), []byte(changed), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "garbage.json"), []byte(`{"events": 7}`), 0o600))

	paths, bad := replay.Paths([]string{dir, filepath.Join(dir, "missing.json")})
	require.Len(t, paths, 3)
	require.Len(t, bad, 1)
	require.Equal(t, replay.Unreadable, bad[0].Kind)

	got := map[string]replay.Kind{}
	for _, r := range replay.Files(slog.New(slog.DiscardHandler), paths, nil) {
		got[filepath.Base(r.Name)] = r.Kind
		require.Error(t, r.Err, r.Name)
	}
	require.Equal(t, map[string]replay.Kind{
		"unknown.json": replay.UnknownType,
		"garbage.json": replay.Unreadable,
		"changed.json": replay.NonDeterministic,
	}, got)
}

// TestReplayUnderAnotherVocabulary: every configurable name changed (vocab), every recorded
// history still replays: a name is data in the commands' inputs, never a command.
func TestReplayUnderAnotherVocabulary(t *testing.T) {
	changed := map[vocab.Key]string{}
	for _, e := range vocab.Default().Entries() {
		switch {
		case !e.Configurable():
		case e.Allowed != nil:
			changed[e.Key] = e.Allowed[len(e.Allowed)-1]
		default:
			changed[e.Key] = "X-" + e.Value
		}
	}
	v, err := vocab.New(changed)
	require.NoError(t, err)
	require.Len(t, v.Changed(), len(changed))
	eng := workflows.NewEngine()
	eng.Vocabulary = v
	paths, bad := replay.Paths(historyDirs(t))
	require.Empty(t, bad)
	for _, r := range replay.FilesWith(testkit.Logger(t, slog.LevelWarn), paths, nil, eng) {
		t.Run(r.Name, func(t *testing.T) {
			require.Equal(t, replay.OK, r.Kind, "%v", r.Err)
		})
	}
}
