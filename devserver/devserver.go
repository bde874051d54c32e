//go:build !production

package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	otelsdktrace "go.opentelemetry.io/otel/sdk/trace"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/temporal"
	"go.uber.org/fx"
)

// clusterName is the one cluster of a dev server.
const clusterName = "active"

// withoutSpanExport is the server's module with no span exporter. The server would otherwise
// build its own from the OTEL_* variables of the process, which are epcflow's tracing
// settings here (internal/tracing): it would refuse to start on a value epcflow takes
// (OTEL_TRACES_EXPORTER=console, http/protobuf) and export its own spans, polls included,
// which join none of epcflow's traces.
func withoutSpanExport() fx.Option {
	return fx.Options(temporal.TopLevelModule, fx.Decorate(func() []otelsdktrace.SpanExporter { return nil }))
}

// Server is a running dev server. Stop it when done.
type Server struct {
	namespace    string
	frontendAddr string
	httpAddr     string
	uiURL        string

	temporal temporal.Server
	ui       *uiServer
	logLevel *serverLevel

	stopOnce sync.Once
	stopErr  error
}

// Start starts the Temporal services and the UI and returns once the
// frontend serves the namespace with its search attributes and the UI
// accepts connections. ctx bounds the preparation of a PostgreSQL database
// and the waiting after the services start.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	level := &serverLevel{base: cfg.LogLevel}
	logger := filteredLogger(cfg.Logger, level).With("component", "temporal-server")
	slogger := serverLogger{l: logger}

	// Ports first: a busy port is the likeliest failure and costs nothing to find.
	// A free UI port is picked only right before the UI starts (see startUI);
	// a fixed one is checked here too.
	var historyPort, matchingPort, workerPort int
	fixedUIPort := cfg.UIPort
	ports := []*int{&cfg.FrontendPort, &cfg.FrontendHTTPPort, &historyPort, &matchingPort, &workerPort}
	if cfg.UIPort > 0 {
		ports = append(ports, &fixedUIPort)
	}
	if err := assignPorts(cfg.Host, ports...); err != nil {
		return nil, err
	}

	var stores dataStores
	if IsPostgres(cfg.DBPath) {
		stores, err = preparePostgres(ctx, cfg.DBPath, slogger)
	} else {
		stores, err = prepareSQLite(cfg.DBPath, slogger)
	}
	if err != nil {
		return nil, err
	}
	if err := ensureNamespace(stores.main, clusterName, cfg.Namespace, cfg.Retention, cfg.SearchAttributes); err != nil {
		return nil, err
	}

	host := dialHost(cfg.Host)
	s := &Server{
		logLevel:     level,
		namespace:    cfg.Namespace,
		frontendAddr: net.JoinHostPort(host, strconv.Itoa(cfg.FrontendPort)),
		httpAddr:     net.JoinHostPort(host, strconv.Itoa(cfg.FrontendHTTPPort)),
	}
	svcPorts := map[primitives.ServiceName]int{
		primitives.FrontendService: cfg.FrontendPort,
		primitives.HistoryService:  historyPort,
		primitives.MatchingService: matchingPort,
		primitives.WorkerService:   workerPort,
	}
	s.temporal, err = temporal.NewServerFx(withoutSpanExport(),
		temporal.WithConfig(serverConfig(cfg, stores, s.frontendAddr, s.httpAddr, svcPorts)),
		temporal.ForServices(temporal.DefaultServices),
		// One process hosts every service: fixed membership instead of ringpop.
		temporal.WithStaticHosts(staticHosts(host, svcPorts)),
		temporal.WithLogger(slogger),
		temporal.WithDynamicConfigClient(dynamicConfig(cfg)),
		temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper {
			return authorization.NewNoopClaimMapper()
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := s.temporal.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}

	if err := s.registerSearchAttributes(ctx, cfg.SearchAttributes, logger); err != nil {
		_ = s.Stop()
		return nil, err
	}

	if cfg.UIPort != NoUI {
		uiPort := cfg.UIPort
		if err := assignPorts(cfg.Host, &uiPort); err != nil {
			_ = s.Stop()
			return nil, err
		}
		s.ui, err = startUI(ctx, cfg.Host, uiPort, s.frontendAddr, cfg.Namespace, cfg.UICodecEndpoint)
		if err != nil {
			_ = s.Stop()
			return nil, err
		}
		s.uiURL = "http://" + net.JoinHostPort(host, strconv.Itoa(uiPort))
	}
	return s, nil
}

// FrontendAddress is the host:port SDK clients dial.
func (s *Server) FrontendAddress() string { return s.frontendAddr }

// FrontendHTTPAddress is the host:port of the frontend's HTTP API.
func (s *Server) FrontendHTTPAddress() string { return s.httpAddr }

// UIURL is the Web UI's base URL, or "" when the UI is disabled.
func (s *Server) UIURL() string { return s.uiURL }

// Namespace is the namespace Start registered.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops the UI and the Temporal services and frees their ports. It is
// safe to call more than once; later calls return the first result.
//
// The SQLite plugin keeps one connection per database open for the life of
// the process (its pool never closes them), so the database file stays open
// after Stop; a later Start on the same file in this process reuses it.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.logLevel.stopping.Store(true)
		if s.ui != nil {
			s.ui.stop()
		}
		if err := s.temporal.Stop(); err != nil {
			s.stopErr = fmt.Errorf("stop temporal server: %w", err)
		}
	})
	return s.stopErr
}

func withDefaults(cfg Config) (Config, error) {
	if cfg.DBPath == "" {
		cfg.DBPath = DefaultDBPath
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Retention == 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.LongPollExpiration == 0 {
		cfg.LongPollExpiration = 2 * time.Second
	}
	var errs []error
	if net.ParseIP(cfg.Host) == nil {
		errs = append(errs, fmt.Errorf("host %q: must be an IP address", cfg.Host))
	}
	for _, p := range []struct {
		name  string
		value int
		min   int
	}{
		{"frontend port", cfg.FrontendPort, 0},
		{"frontend HTTP port", cfg.FrontendHTTPPort, 0},
		{"UI port", cfg.UIPort, NoUI},
	} {
		if p.value < p.min || p.value > 65535 {
			errs = append(errs, fmt.Errorf("%s %d: out of range", p.name, p.value))
		}
	}
	if cfg.Retention < 0 {
		errs = append(errs, fmt.Errorf("retention %s: must not be negative", cfg.Retention))
	}
	if cfg.LongPollExpiration < 0 {
		errs = append(errs, fmt.Errorf("long poll expiration %s: must not be negative", cfg.LongPollExpiration))
	}
	if err := validateSearchAttributes(cfg.SearchAttributes); err != nil {
		errs = append(errs, err)
	}
	if IsPostgres(cfg.DBPath) {
		// SQLite paths are checked when the store is opened, as before.
		if err := ValidateDBPath(cfg.DBPath); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, fmt.Errorf("devserver config: %w", err)
	}
	return cfg, nil
}

// dataStores are the SQL stores of a server: one for both on SQLite, two on PostgreSQL.
type dataStores struct {
	name             string
	main, visibility *config.SQL
}

func (d dataStores) persistence() config.Persistence {
	p := config.Persistence{
		DefaultStore:    d.name + "-default",
		VisibilityStore: d.name + "-default",
		// One process: more shards only add work. The count is kept in the database and
		// cannot change later, so it is the same on PostgreSQL.
		NumHistoryShards: 1,
		DataStores:       map[string]config.DataStore{d.name + "-default": {SQL: d.main}},
	}
	if d.visibility != d.main {
		p.VisibilityStore = d.name + "-visibility"
		p.DataStores[p.VisibilityStore] = config.DataStore{SQL: d.visibility}
	}
	return p
}

func serverConfig(cfg Config, stores dataStores, frontendAddr, httpAddr string, ports map[primitives.ServiceName]int) *config.Config {
	c := &config.Config{}
	c.Global.Membership.MaxJoinDuration = 30 * time.Second
	c.Global.Membership.BroadcastAddress = dialHost(cfg.Host)
	c.Persistence = stores.persistence()
	c.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{
			clusterName: {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             frontendAddr,
				HTTPAddress:            httpAddr,
			},
		},
	}
	c.DCRedirectionPolicy.Policy = "noop"
	c.Services = make(map[string]config.Service, len(ports))
	for name, port := range ports {
		svc := config.Service{RPC: config.RPC{GRPCPort: port, BindOnIP: cfg.Host}}
		if name == primitives.FrontendService {
			svc.RPC.HTTPPort = cfg.FrontendHTTPPort
		}
		c.Services[string(name)] = svc
	}
	c.Archival.History.State = "disabled"
	c.Archival.Visibility.State = "disabled"
	c.NamespaceDefaults.Archival.History.State = "disabled"
	c.NamespaceDefaults.Archival.Visibility.State = "disabled"
	c.PublicClient.HostPort = frontendAddr
	return c
}

func staticHosts(host string, ports map[primitives.ServiceName]int) map[primitives.ServiceName]static.Hosts {
	hosts := make(map[primitives.ServiceName]static.Hosts, len(ports))
	for name, port := range ports {
		hosts[name] = static.SingleLocalHost(net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return hosts
}

// dynamicConfig tunes the server for snappy local use; ExtraDynamicConfig wins.
func dynamicConfig(cfg Config) dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{
		dynamicconfig.HistoryLongPollExpirationInterval.Key(): cfg.LongPollExpiration,
		// Search attributes added at start are usable at once, not after a cache TTL.
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): true,
		// Already the defaults in 1.32; pinned because the UI and SDK updates rely on them.
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key():              true,
		dynamicconfig.FrontendEnableUpdateWorkflowExecutionAsyncAccepted.Key(): true,
		// As the Temporal CLI's dev server: a smaller mutable-state cache and
		// enough visibility RPS for the UI's polling.
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// The history queues read new tasks at most 20 times a second per shard, a default
		// made for clusters of hundreds of shards. With our one shard it is the server's
		// limit: past a burst every workflow task waited ~45 ms to be dispatched, which made
		// an order of 12 steps take 400 ms instead of 90 (see package bench).
		dynamicconfig.TransferProcessorMaxPollRPS.Key():   1000,
		dynamicconfig.TimerProcessorMaxPollRPS.Key():      1000,
		dynamicconfig.VisibilityProcessorMaxPollRPS.Key(): 1000,
		dynamicconfig.OutboundProcessorMaxPollRPS.Key():   1000,
	}
	for k, v := range cfg.ExtraDynamicConfig {
		dc[dynamicconfig.MakeKey(k)] = v
	}
	return dc
}

// registerSearchAttributes adds the attributes the namespace lacks (a
// namespace created by this Start already has them) and checks the types of
// all of them. It also proves the frontend serves the namespace.
func (s *Server) registerSearchAttributes(ctx context.Context, attrs map[string]enums.IndexedValueType, logger *slog.Logger) error {
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  s.frontendAddr,
		Namespace: s.namespace,
		Logger:    sdklog.NewStructuredLogger(logger),
	})
	if err != nil {
		return fmt.Errorf("connect to temporal frontend %s: %w", s.frontendAddr, err)
	}
	defer c.Close()

	ops := c.OperatorService()
	list := func() (map[string]enums.IndexedValueType, error) {
		resp, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.namespace})
		if err != nil {
			return nil, fmt.Errorf("list search attributes of namespace %q: %w", s.namespace, err)
		}
		return resp.GetCustomAttributes(), nil
	}
	have, err := list()
	if err != nil {
		return err
	}
	missing := make(map[string]enums.IndexedValueType)
	for name, typ := range attrs {
		if _, ok := have[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) > 0 {
		// With SQL visibility this maps each name onto a free pre-allocated
		// column of its type in this namespace.
		if _, err := ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace:        s.namespace,
			SearchAttributes: missing,
		}); err != nil {
			return fmt.Errorf("add search attributes to namespace %q: %w", s.namespace, err)
		}
		if have, err = list(); err != nil {
			return err
		}
	}

	var errs []error
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		got, ok := have[name]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("search attribute %q: not registered", name))
		case got != attrs[name]:
			errs = append(errs, fmt.Errorf("search attribute %q: registered as %s, want %s", name, got, attrs[name]))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("namespace %q: %w", s.namespace, err)
	}
	return nil
}
