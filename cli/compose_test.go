package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/require"
	"go.temporal.io/server/common/dynamicconfig"
)

// docker-compose.yml is checked by loading it with compose-go, the library Docker Compose
// itself uses: what `docker compose config` would see.

const composeFile = "../docker-compose.yml"

// requiredVariables are the variables the file refuses to start without (${NAME:?message}).
func requiredVariables(t *testing.T) []string {
	raw, err := os.ReadFile(composeFile)
	require.NoError(t, err)
	var names []string
	for _, m := range regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*):\?`).FindAllStringSubmatch(string(raw), -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	slices.Sort(names)
	return names
}

// loadCompose loads the file with env as the environment; raw leaves ${…} uninterpolated.
func loadCompose(t *testing.T, env map[string]string, raw bool) (*types.Project, error) {
	details := types.ConfigDetails{
		WorkingDir:  "..",
		ConfigFiles: []types.ConfigFile{{Filename: composeFile}},
		Environment: env,
	}
	return loader.LoadWithContext(t.Context(), details, func(o *loader.Options) {
		o.SetProjectName("epcflow", true)
		o.SkipInterpolation = raw
	})
}

// composeEnv gives every required variable a distinct value.
func composeEnv(t *testing.T) map[string]string {
	env := map[string]string{}
	for _, name := range requiredVariables(t) {
		env[name] = "0123abcd" + strings.ToLower(name)
	}
	env["EPCFLOW_CODEC_KEYS"] = "k1:ZXBjZmxvdy10ZXN0LWtleS0zMi1ieXRlcy1sb25nLi4="
	return env
}

func TestComposeRequiresEverySecret(t *testing.T) {
	required := requiredVariables(t)
	for _, name := range []string{"POSTGRES_PASSWORD", "EPC_CLIENT_SECRET", "EPC_WEBHOOK_SIGNING_KEY", "POS_SIGNING_SECRET", "INBANK_API_KEY", "EPCFLOW_OPERATOR_TOKEN", "EPCFLOW_CODEC_TOKEN", "EPCFLOW_CODEC_KEYS"} {
		require.Contains(t, required, name, "docker-compose.yml must not start without %s", name)
	}

	_, err := loadCompose(t, composeEnv(t), false)
	require.NoError(t, err, "with every required variable set")

	for _, name := range required {
		env := composeEnv(t)
		delete(env, name)
		_, err := loadCompose(t, env, false)
		require.ErrorContains(t, err, "required variable "+name+" is missing a value: set "+name, "without %s", name)
		env[name] = ""
		_, err = loadCompose(t, env, false)
		require.ErrorContains(t, err, "required variable "+name+" is missing a value", "with %s empty", name)
	}
}

// TestComposeSaysHowToGenerateEachSecret: the header comment names every required variable
// with a command that makes a value.
func TestComposeSaysHowToGenerateEachSecret(t *testing.T) {
	raw, err := os.ReadFile(composeFile)
	require.NoError(t, err)
	entries := map[string]string{} // variable → its comment entry
	var current string
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "#") {
			break // the header ends at the first line that is not a comment
		}
		if m := regexp.MustCompile(`^#\s{3}([A-Z][A-Z0-9_]+)\s`).FindStringSubmatch(line); m != nil {
			current = m[1]
		} else if strings.TrimSpace(strings.TrimPrefix(line, "#")) == "" {
			current = ""
		}
		if current != "" {
			entries[current] += line + "\n"
		}
	}
	for _, name := range requiredVariables(t) {
		require.Contains(t, entries, name, "the header comment does not name %s", name)
		require.Contains(t, entries[name], "openssl rand", "the header comment does not say how to generate %s", name)
	}
}

// commandEnv returns the environment variables an epcflow command reads (from its flags'
// help, which names each flag's variable) and which of them carry secrets.
func commandEnv(t *testing.T, name string) (vars map[string]bool) {
	var out bytes.Buffer
	code := Main(context.Background(), []string{name, "-h"}, &out, &out)
	require.Equal(t, 0, code, "epcflow %s -h: %s", name, out.String())
	vars = map[string]bool{}
	for _, m := range regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)(; prefer it)?`).FindAllStringSubmatch(out.String(), -1) {
		vars[m[1]] = m[2] != ""
	}
	require.NotEmpty(t, vars, "epcflow %s -h names no environment variable", name)
	return vars
}

// epcflowServices are the services that run the epcflow image, by the command they run.
func epcflowServices(p *types.Project) map[string][]types.ServiceConfig {
	out := map[string][]types.ServiceConfig{}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if s.Image == "epcflow:local" && len(s.Command) > 0 {
			out[s.Command[0]] = append(out[s.Command[0]], s)
		}
	}
	return out
}

// TestComposeSetsOnlyVariablesEpcflowReads: every variable set on an epcflow service is read
// by the command it runs, takes the value given, and a secret is never given a default.
func TestComposeSetsOnlyVariablesEpcflowReads(t *testing.T) {
	p, err := loadCompose(t, composeEnv(t), false)
	require.NoError(t, err)
	raw, err := loadCompose(t, nil, true)
	require.NoError(t, err)
	byCommand := epcflowServices(p)
	require.NotEmpty(t, byCommand)
	for cmd, services := range byCommand {
		known := commandEnv(t, cmd)
		run := commandRun(t, cmd)
		for _, s := range services {
			vals := map[string]string{}
			for k, v := range s.Environment {
				require.Contains(t, known, k, "service %s sets %s, which `epcflow %s` does not read", s.Name, k, cmd)
				if v != nil {
					vals[k] = *v
				}
				rawValue := *raw.Services[s.Name].Environment[k]
				if known[k] && rawValue != "" {
					require.Regexp(t, `^\$\{[A-Z][A-Z0-9_]*(:\?[^}]+|:-)\}$`, rawValue, "service %s: secret %s has a default or a value in the file", s.Name, k)
				}
			}
			// The command takes every value: -h parses the environment like a start would.
			var out bytes.Buffer
			err := run(context.Background(), &env{stdout: &out, stderr: &out, getenv: func(k string) string { return vals[k] }}, []string{"-h"})
			require.True(t, errors.Is(err, flag.ErrHelp), "service %s: epcflow %s refuses its environment: %v", s.Name, cmd, err)
		}
	}
}

func commandRun(t *testing.T, name string) func(context.Context, *env, []string) error {
	for _, c := range commands() {
		if c.name == name {
			return c.run
		}
	}
	t.Fatalf("no command %q", name)
	return nil
}

func replicas(s types.ServiceConfig) int {
	if s.Deploy != nil && s.Deploy.Replicas != nil {
		return *s.Deploy.Replicas
	}
	return 1
}

// temporalRelease is go.temporal.io/server's version in go.mod: the server epcflow embeds.
func temporalRelease(t *testing.T) string {
	mod, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*go\.temporal\.io/server v(\S+)`).FindSubmatch(mod)
	require.NotNil(t, m, "go.mod: no go.temporal.io/server")
	return string(m[1])
}

// TestComposeLayout: the production layout the drill runs as processes: Temporal (the release
// epcflow embeds) on PostgreSQL with its schema made by Temporal's tool and the namespace
// created, the UI, three workers, two API replicas behind a load balancer, and the sandbox
// playing the platforms with the same secrets the parts use.
func TestComposeLayout(t *testing.T) {
	p, err := loadCompose(t, composeEnv(t), false)
	require.NoError(t, err)
	svc := func(name string) types.ServiceConfig {
		s, ok := p.Services[name]
		require.True(t, ok, "no service %s", name)
		return s
	}
	release := temporalRelease(t)
	envOf := func(s types.ServiceConfig, k string) string {
		v, ok := s.Environment[k]
		require.True(t, ok && v != nil, "service %s: %s not set", s.Name, k)
		return *v
	}

	// Temporal on PostgreSQL, its schema first, then the namespace and search attributes.
	pg := svc("postgresql")
	require.True(t, strings.HasPrefix(pg.Image, "postgres:"), pg.Image)
	temporal := svc("temporal")
	require.Equal(t, "temporalio/server:"+release, temporal.Image)
	require.Equal(t, "postgres12", envOf(temporal, "DB"))
	require.Equal(t, "postgresql", envOf(temporal, "POSTGRES_SEEDS"))
	schema := svc("temporal-schema")
	require.Equal(t, "temporalio/admin-tools:"+release, schema.Image)
	script := strings.Join(schema.Command, " ")
	for _, want := range []string{"--plugin postgres12", "setup-schema -v 0.0", "update-schema -d /etc/temporal/schema/postgresql/v12/temporal/versioned", "update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned", "temporal_visibility"} {
		require.Contains(t, script, want, "temporal-schema")
	}
	require.Equal(t, types.ServiceConditionCompletedSuccessfully, temporal.DependsOn["temporal-schema"].Condition)
	require.Equal(t, types.ServiceConditionHealthy, schema.DependsOn["postgresql"].Condition)
	setup := svc("temporal-setup-attributes")
	require.Equal(t, "temporalio/admin-tools:"+release, setup.Image)
	require.Contains(t, strings.Join(setup.Command, " "), "temporal operator namespace create --namespace default")
	require.Equal(t, envOf(temporal, "DYNAMIC_CONFIG_FILE_PATH"), temporal.Configs[0].Target, "the dynamic config file is mounted where the server reads it")
	dc := dynamicconfig.LoadYamlFile([]byte(p.Configs[temporal.Configs[0].Source].Content))
	require.NoError(t, dc.Err(), "the server's loader refuses the dynamic config")
	require.Empty(t, dc.Warnings, "the server's loader warns about the dynamic config")
	require.NotEmpty(t, dc.Map)
	require.True(t, strings.HasPrefix(svc("temporal-ui").Image, "temporalio/ui:"))

	byCommand := epcflowServices(p)
	workers := 0
	for _, s := range byCommand["worker"] {
		workers += replicas(s)
		require.Equal(t, types.ServiceConditionCompletedSuccessfully, s.DependsOn["temporal-setup-attributes"].Condition, "worker %s waits for the search attributes", s.Name)
	}
	require.Equal(t, 3, workers, "workers")

	var apis []string
	for _, s := range byCommand["api"] {
		require.Equal(t, 1, replicas(s), "each API replica is its own service, known to the load balancer")
		apis = append(apis, s.Name)
	}
	require.Len(t, apis, 2, "API replicas")
	lb := svc("api")
	require.Len(t, lb.Configs, 1)
	balancer := p.Configs[lb.Configs[0].Source].Content
	for _, name := range apis {
		require.Contains(t, balancer, "server "+name+":8080", "the load balancer sends to %s", name)
	}
	require.Equal(t, "8080", lb.Ports[0].Published)

	// Only the load balancer faces the world; Temporal, the UI and the sandbox stay on loopback.
	for _, s := range p.Services {
		for _, port := range s.Ports {
			if s.Name != "api" {
				require.Equal(t, "127.0.0.1", port.HostIP, "service %s publishes port %s beyond loopback", s.Name, port.Published)
			}
		}
	}

	require.Len(t, byCommand["sandbox"], 1, "one sandbox")
	sb := byCommand["sandbox"][0]
	flagOf := func(args []string, name string) string {
		i := slices.Index(args, name)
		require.True(t, i >= 0 && i+1 < len(args), "sandbox: no %s", name)
		return args[i+1]
	}
	require.Equal(t, "http://api:8080", flagOf(sb.Command, "--partner-url"), "the sandbox sends webhooks through the load balancer")
	sandboxURL := fmt.Sprintf("http://%s:8090", sb.Name)
	require.Equal(t, sandboxURL, flagOf(sb.Command, "--public-url"))
	worker, api := byCommand["worker"][0], byCommand["api"][0]
	require.Equal(t, sandboxURL, envOf(worker, "EPC_BASE_URL"))
	require.Equal(t, sandboxURL, envOf(worker, "INBANK_BASE_URL"))
	require.Equal(t, sandboxURL, envOf(api, "POS_BASE_URL"))
	// The sandbox plays the platforms with the secrets the parts were given.
	for sandboxVar, part := range map[string]struct {
		s types.ServiceConfig
		v string
	}{
		"SANDBOX_CLIENT_ID":          {worker, "EPC_CLIENT_ID"},
		"SANDBOX_CLIENT_SECRET":      {worker, "EPC_CLIENT_SECRET"},
		"SANDBOX_SIGNING_KEY":        {api, "EPC_WEBHOOK_SIGNING_KEYS"},
		"SANDBOX_POS_SIGNING_SECRET": {api, "POS_SIGNING_SECRET"},
		"SANDBOX_INBANK_API_KEY":     {worker, "INBANK_API_KEY"},
	} {
		require.Equal(t, envOf(part.s, part.v), envOf(sb, sandboxVar), "sandbox %s = %s %s", sandboxVar, part.s.Name, part.v)
	}
	require.Equal(t, envOf(worker, "INBANK_API_KEY"), envOf(api, "INBANK_API_KEY"))
}
