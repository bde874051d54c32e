package stack

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/epcflow/epcflow/internal/wait"

	"github.com/epcflow/epcflow/devserver"
)

// RestartTemporal stops the embedded Temporal server, keeps it down for downtime, and starts
// it again on the same database and frontend port, as an operator restarting the server
// would. Clients, workers and the API keep their connections and reconnect on their own.
// It is for chaos and restart tests; with an in-memory database the state would be lost, so
// that is refused.
func (s *Stack) RestartTemporal(ctx context.Context, downtime time.Duration) error {
	if s.serverCfg.DBPath == devserver.MemoryDB {
		return fmt.Errorf("restart temporal: the database is in memory; a restart would lose it")
	}
	cfg := s.serverCfg
	// The same frontend port, so clients that dialed it find the new server there.
	_, port, err := net.SplitHostPort(s.Server.FrontendAddress())
	if err != nil {
		return fmt.Errorf("restart temporal: %w", err)
	}
	if cfg.FrontendPort, err = strconv.Atoi(port); err != nil {
		return fmt.Errorf("restart temporal: frontend port %q: %w", port, err)
	}
	if err := s.Server.Stop(); err != nil {
		return fmt.Errorf("restart temporal: %w", err)
	}
	if err := wait.For(ctx, downtime); err != nil {
		return err
	}
	srv, err := devserver.Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("restart temporal: %w", err)
	}
	s.Server = srv
	return nil
}
