//go:build production

package cli

import (
	"context"
	"fmt"
)

// A production build (go build -tags production, scripts/build-production) leaves out the
// embedded Temporal server and its Web UI, and with them the commands that start one.
var (
	runDev   = notInBuild("dev")
	runBench = notInBuild("bench")
	runChaos = notInBuild("chaos")
)

func notInBuild(name string) func(context.Context, *env, []string) error {
	return func(context.Context, *env, []string) error {
		return fmt.Errorf("not in this build: a production build (-tags production) has no embedded Temporal server or UI, so no %s; it runs worker, api, sandbox, start and replay against a Temporal cluster (TEMPORAL_ADDRESS). A full build (go build .) has %s", name, name)
	}
}
