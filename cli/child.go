package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// RunIfChild runs the command line and exits when the environment variable env is "1". The
// suites that start epcflow's parts as processes of their own (bench, chaos, drill) run
// their test binary as epcflow: its TestMain calls this first.
func RunIfChild(env string) {
	if os.Getenv(env) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
