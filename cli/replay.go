package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/epcflow/epcflow/codec"
	"github.com/epcflow/epcflow/replay"
)

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
	tf.register(f)
	keys.register(f)
	f.str(&files, "files", "", "", "comma-separated history JSON files or directories (as `temporal workflow show --output json` writes); empty: replay from the server")
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
		var paths []string
		for _, p := range splitList(files) {
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			if st.IsDir() {
				m, _ := filepath.Glob(filepath.Join(p, "*.json"))
				paths = append(paths, m...)
			} else {
				paths = append(paths, p)
			}
		}
		if len(paths) == 0 {
			return usageErr("no history files found in %s", files)
		}
		results = replay.Files(log, paths, dc)
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
	failed := 0
	for _, r := range results {
		status := "ok"
		if r.Err != nil {
			status = "FAILED: " + r.Err.Error()
			failed++
		}
		fmt.Fprintf(e.stdout, "%-60s %s\n", r.Name, status)
	}
	fmt.Fprintf(e.stdout, "replay: %d histories, %d ok, %d failed\n", len(results), len(results)-failed, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d histories do not replay on this build (non-determinism)", failed, len(results))
	}
	return nil
}
