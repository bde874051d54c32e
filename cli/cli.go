// Package cli implements the epcflow command: dev, worker, api, sandbox, start and replay.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/epcflow/epcflow/internal/traced"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, env *env, args []string) error
}

// env is what a subcommand gets from the process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// self is how this binary was started (see invocation), for the commands it prints.
	self string
}

func commands() []command {
	return []command{
		{"dev", "everything in one process: embedded Temporal + UI, worker, API, sandbox, demo orders", runDev},
		{"worker", "the Temporal worker alone (production layout)", runWorker},
		{"api", "the webhook and operator API alone (production layout)", runAPI},
		{"sandbox", "the EPC sandbox alone", runSandbox},
		{"start", "operator CLI: place, update or cancel sandbox orders; schedule, deliver, show", runStart},
		{"vocabulary", "print the names epcflow uses toward the platforms, with their standing and where they are used (--vocabulary FILE: as that file changes them)", runVocabulary},
		{"replay", "replay workflow histories (files or a server's recent executions) against this build", runReplay},
		{"bench", "benchmark: flood orders end to end vs a no-op Temporal ceiling, webhook latency, worker memory", runBench},
		{"chaos", "chaos suite: orders under injected faults, killed workers and a server restart; counts lost and duplicated effects", runChaos},
		{"drill", "production layout drill: Temporal, 2 API replicas and 3 workers as processes, killed and upgraded under the chaos suite's orders", runDrill},
		{"temporal", "the embedded Temporal server alone on a database (no UI): the drill's Temporal process", runTemporal},
	}
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr, getenv: os.Getenv, self: invocation(os.Args[0], os.Getenv)}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, e, args[1:])
			switch {
			case err == nil:
				return 0
			case errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				fmt.Fprintf(stderr, "epcflow %s: %v\n", c.name, err)
				return 2
			default:
				fmt.Fprintf(stderr, "epcflow %s: %v\n", c.name, err)
				if code, ok := exitCode(err); ok {
					return code
				}
				return 1
			}
		}
	}
	fmt.Fprintf(stderr, "epcflow: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// exitError carries a command's exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the exit code an error of a command asks for, if it names one.
func exitCode(err error) (int, bool) {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, true
	}
	return 0, false
}

var errUsage = errors.New("usage")

func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "epcflow: durable fulfillment for Encompass Partner Connect partners")
	fmt.Fprintln(w, "\nUsage: epcflow <command> [flags]   (epcflow <command> -h for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
}

// flags is a FlagSet whose values may come from environment variables, where one is named;
// a flag on the command line wins.
type flags struct {
	*flag.FlagSet
	env     *env
	envErrs []error // environment values the flags refused, reported by parse
}

func newFlags(e *env, name string) *flags {
	fs := flag.NewFlagSet("epcflow "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return &flags{FlagSet: fs, env: e}
}

func (f *flags) str(p *string, name, envVar, def, usage string) {
	f.StringVar(p, name, def, envUsage(usage, envVar, ""))
	f.fromEnv(name, envVar)
}

func (f *flags) integer(p *int, name, envVar string, def int, usage string) {
	f.IntVar(p, name, def, envUsage(usage, envVar, ""))
	f.fromEnv(name, envVar)
}

// value registers a flag of any flag.Value (its zero value is the default) with an
// environment fallback.
func (f *flags) value(v flag.Value, name, envVar, usage string) {
	f.Var(v, name, envUsage(usage, envVar, ""))
	f.fromEnv(name, envVar)
}

func (f *flags) duration(p *time.Duration, name, envVar string, def time.Duration, usage string) {
	f.DurationVar(p, name, def, envUsage(usage, envVar, ""))
	f.fromEnv(name, envVar)
}

// envUsage adds the environment variable (and why to prefer it, if said) to a flag's help.
func envUsage(usage, envVar, prefer string) string {
	if envVar == "" {
		return usage
	}
	if prefer != "" {
		return usage + " (env " + envVar + "; " + prefer + ")"
	}
	return usage + " (env " + envVar + ")"
}

// fromEnv sets flag name from envVar when that is set; a value the flag refuses is reported
// by parse, naming the variable (never its value, which may be a secret).
func (f *flags) fromEnv(name, envVar string) {
	if envVar == "" {
		return
	}
	if v := f.env.getenv(envVar); v != "" {
		if err := f.Set(name, v); err != nil {
			f.envErrs = append(f.envErrs, fmt.Errorf("environment variable %s: not a valid value for --%s", envVar, name))
		}
	}
}

func (f *flags) boolean(p *bool, name string, def bool, usage string) { f.BoolVar(p, name, def, usage) }

func (f *flags) parse(args []string) error {
	if err := errors.Join(f.envErrs...); err != nil {
		return usageErr("%v", err)
	}
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v", err)
	}
	if f.NArg() > 0 {
		return usageErr("unexpected arguments: %s", strings.Join(f.Args(), " "))
	}
	return nil
}

// logging holds the log flags every long-running command shares.
type logging struct {
	format, level string
}

func (l *logging) register(f *flags, defFormat string) { l.registerAt(f, defFormat, "info") }

// registerAt is register with another default level: a command whose stack's logs would drown
// its progress lines (bench, temporal) logs warnings only unless told otherwise.
func (l *logging) registerAt(f *flags, defFormat, defLevel string) {
	f.str(&l.format, "log-format", "LOG_FORMAT", defFormat, "log format: text or json")
	f.str(&l.level, "log-level", "LOG_LEVEL", defLevel, "log level: debug, info, warn, error")
}

func (l *logging) logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usageErr("--log-level %q: want debug, info, warn or error", l.level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	// A line logged within a span carries its trace_id and span_id (when tracing is on).
	switch l.format {
	case "json":
		return slog.New(traced.LogHandler(slog.NewJSONHandler(w, opts))), nil
	case "text":
		return slog.New(traced.LogHandler(slog.NewTextHandler(w, opts))), nil
	}
	return nil, usageErr("--log-format %q: want text or json", l.format)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
