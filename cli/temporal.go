//go:build !production

package cli

import (
	"context"
	"fmt"

	"github.com/epcflow/epcflow/devserver"
	"github.com/epcflow/epcflow/workflows"
)

// temporalReady starts the line `epcflow temporal` prints once it serves: the drill waits for
// it.
const temporalReady = "temporal: serving "

// runTemporal runs the embedded Temporal server alone (no UI, no epcflow part) on a database,
// with epcflow's namespace and search attributes: the drill's Temporal process, standing for
// a Temporal cluster. `dev` runs the same server inside its one process.
func runTemporal(ctx context.Context, e *env, args []string) error {
	f := newFlags(e, "temporal")
	var (
		db, namespace string
		port          int
		logs          logging
	)
	f.str(&db, "db", "EPCFLOW_TEMPORAL_DB", "", "Temporal's database: a postgres://…/NAME URL (NAME and NAME_visibility, created and their schema set up when missing) or a SQLite file; required")
	f.integer(&port, "port", "", devserver.DefaultFrontendPort, "frontend gRPC port clients dial (0: a free one)")
	f.str(&namespace, "namespace", "TEMPORAL_NAMESPACE", "default", "namespace registered with epcflow's search attributes")
	logs.registerAt(f, "text", "warn")
	if err := f.parse(args); err != nil {
		return err
	}
	if db == "" || db == devserver.MemoryDB {
		return usageErr("--db is required: a postgres:// URL or a SQLite file (the server is meant to be killed and started again on it)")
	}
	if err := devserver.ValidateDBPath(db); err != nil {
		return usageErr("--db: %v", err)
	}
	log, err := logs.logger(e.stderr)
	if err != nil {
		return err
	}
	srv, err := devserver.Start(ctx, devserver.Config{
		DBPath: db, FrontendPort: port, UIPort: devserver.NoUI, Namespace: namespace,
		SearchAttributes: workflows.SearchAttributes(), Logger: log,
	})
	if err != nil {
		return fmt.Errorf("temporal on %s: %w", devserver.RedactDBPath(db), err)
	}
	fmt.Fprintf(e.stdout, "%s%s namespace %s\n", temporalReady, srv.FrontendAddress(), srv.Namespace())
	<-ctx.Done()
	return srv.Stop()
}
