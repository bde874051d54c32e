package cli

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/replay"
)

// Exit codes of epcflow replay beyond 0 (every history replayed), 1 (the command failed, e.g.
// the server is unreachable) and 2 (usage). When histories fail in several ways, the first
// of these in this order is the exit code.
const (
	exitNonDeterministic = 3
	exitUnknownType      = 4
	exitUnreadable       = 5
)

const replayUsage = `Usage: epcflow replay [--files PATH[,PATH…] | --temporal-address HOST:PORT] [flags]

Replays workflow histories against this build's workflow code: every epcflow workflow type
(EPC transaction, Delivery Room package, Inbank payment session). --files takes history JSON
files (as ` + "`temporal workflow show --output json`" + ` writes them) and directories (every *.json
under them), comma-separated; without it, the server's most recent executions are replayed.

Exit codes:
  0  every history replayed
  1  the command failed (e.g. the server cannot be reached)
  2  usage: a bad flag or no history found
  3  a history does not replay: non-determinism (workflow code changed without versioning)
  4  a history's workflow type is not registered in this build
  5  a history cannot be read (no such file, not a history, payloads without their keys)
When histories fail in several ways, the first of 3, 4, 5 applies.

Flags:
`

func runReplay(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "replay")
	var (
		tf    temporalFlags
		files string
		limit int
		query string
		logs  logging
		keys  codecKeysFlag
	)
	f.Usage = func() {
		fmt.Fprint(f.Output(), replayUsage)
		f.PrintDefaults()
	}
	tf.register(f)
	keys.register(f)
	f.str(&files, "files", "", "", "comma-separated history JSON files or directories (every *.json under them); empty: replay from the server")
	f.integer(&limit, "limit", "", 100, "with a server: how many recent executions to replay")
	f.str(&query, "query", "", "", "with a server: visibility query selecting executions (default: every epcflow workflow type)")
	logs.register(f, "text")
	if err := f.parse(args); err != nil {
		return err
	}
	log, err := logs.logger(e.stderr)
	if err != nil {
		return err
	}
	ring, err := keys.keyring(log)
	if err != nil {
		return err
	}
	var dc converter.DataConverter
	if ring != nil {
		dc = codec.DataConverter(ring)
	}
	var results []replay.Result
	if files != "" {
		paths, bad := replay.Paths(splitList(files))
		if len(paths) == 0 && len(bad) == 0 {
			return usageErr("no history files found in %s", files)
		}
		results = append(bad, replay.Files(log, paths, dc)...)
	} else {
		c, err := client.DialContext(ctx, client.Options{HostPort: tf.address, Namespace: tf.namespace})
		if err != nil {
			return fmt.Errorf("connect to Temporal at %s: %w", tf.address, err)
		}
		defer c.Close()
		results, err = replay.Recent(ctx, log, c, query, limit, dc)
		if err != nil {
			return err
		}
	}
	return report(e, results)
}

// report prints a line per history and a summary; the error names the worst failure.
func report(e *env, results []replay.Result) error {
	count := map[replay.Kind]int{}
	width := 0
	for _, r := range results {
		width = max(width, len(r.Name))
	}
	for _, r := range results {
		count[r.Kind]++
		status := "ok"
		if r.Err != nil {
			status = fmt.Sprintf("FAILED (%s): %v", r.Kind, r.Err)
		}
		fmt.Fprintf(e.stdout, "%-*s  %s\n", width, r.Name, status)
	}
	fmt.Fprintf(e.stdout, "replay: %d histories, %d ok, %d non-deterministic, %d of an unknown workflow type, %d unreadable\n",
		len(results), count[replay.OK], count[replay.NonDeterministic], count[replay.UnknownType], count[replay.Unreadable])
	for _, w := range []struct {
		kind replay.Kind
		code int
		what string
	}{
		{replay.NonDeterministic, exitNonDeterministic, "do not replay on this build (non-determinism)"},
		{replay.UnknownType, exitUnknownType, "have a workflow type this build does not register"},
		{replay.Unreadable, exitUnreadable, "cannot be read"},
	} {
		if n := count[w.kind]; n > 0 {
			return &exitError{code: w.code, err: fmt.Errorf("%d of %d histories %s", n, len(results), w.what)}
		}
	}
	return nil
}
