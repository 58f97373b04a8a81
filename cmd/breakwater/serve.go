package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/breakwater/breakwater/devhost"
	"github.com/breakwater/breakwater/filter/config"
)

// serveEnv is what serve takes from its surroundings, so that a test can
// run it in-process: the signals it obeys and a hook told the bound
// addresses once both servers accept connections.
type serveEnv struct {
	// signals delivers SIGINT/SIGTERM (stop) and SIGHUP (reload).
	signals <-chan os.Signal
	// ready, when set, is called once with the listen and admin addresses.
	ready func(listen, admin string)
	// reloaded, when set, is called after each SIGHUP with the outcome.
	reloaded func(err error)
	// shutdownTimeout bounds the graceful shutdown. Zero: 10s.
	shutdownTimeout time.Duration
}

// clusterFlags collects repeated --cluster NAME=URL.
type clusterFlags map[string]string

func (c clusterFlags) String() string {
	names := make([]string, 0, len(c))
	for n := range c {
		names = append(names, n+"="+c[n])
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func (c clusterFlags) Set(v string) error {
	name, url, ok := strings.Cut(v, "=")
	if !ok || name == "" || url == "" {
		return fmt.Errorf("want NAME=URL, got %q", v)
	}
	if _, dup := c[name]; dup {
		return fmt.Errorf("cluster %q given twice", name)
	}
	c[name] = url
	return nil
}

// logLevels maps the --log-level names to the ABI levels.
var logLevels = map[string]devhost.LogLevel{
	"trace": devhost.LogTrace, "debug": devhost.LogDebug, "info": devhost.LogInfo,
	"warn": devhost.LogWarn, "warning": devhost.LogWarn, "error": devhost.LogError, "critical": devhost.LogCritical,
}

const serveUsage = `usage: breakwater serve --wasm FILE --config FILE --cluster NAME=URL [--cluster NAME=URL ...]
                        [--upstream NAME] [--listen ADDR] [--admin ADDR] [--workers N] [--log-level LEVEL]

Runs the plugin in the dev host (NOT a production proxy: production is Envoy or Istio).
  SIGINT, SIGTERM  graceful stop (in-flight requests finish, up to 10s), exit 0
  SIGHUP           re-read --config and reconfigure the plugin; shared data
                   (breaker, limits, bulkhead) is kept; a bad file keeps the old one
Admin: /stats/prometheus (Envoy's naming), /stats, /ready.
`

// runServe is the serve command: the process's real signals.
func runServe(args []string, stdout, stderr io.Writer) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	return serve(args, stdout, stderr, serveEnv{signals: sigs})
}

// sharedCache compiles the module once per process (tests run serve and
// demo several times in one process).
var sharedCache = sync.OnceValue(func() wazero.CompilationCache { return wazero.NewCompilationCache() })

func serve(args []string, stdout, stderr io.Writer, env serveEnv) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	wasmPath := fs.String("wasm", "dist/breakwater.wasm", "the plugin module")
	configPath := fs.String("config", "", "the plugin configuration (JSON)")
	listen := fs.String("listen", "127.0.0.1:10000", "address of the proxy listener")
	admin := fs.String("admin", "127.0.0.1:9901", "address of the admin listener (empty: none)")
	upstream := fs.String("upstream", "", "cluster the route forwards to (default: the only cluster, or \"upstream\")")
	workers := fs.Int("workers", devhost.DefaultWorkers, "worker VMs")
	logLevel := fs.String("log-level", "info", "minimum plugin log level: trace, debug, info, warn, error, critical")
	clusters := clusterFlags{}
	fs.Var(clusters, "cluster", "NAME=URL of a cluster (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, serveUsage)
			return exitOK
		}
		fmt.Fprintf(stderr, "breakwater: serve: %v\n%s", err, serveUsage)
		return exitUsage
	}
	level, ok := logLevels[*logLevel]
	switch {
	case fs.NArg() != 0:
		fmt.Fprintf(stderr, "breakwater: serve: unexpected argument %q\n%s", fs.Arg(0), serveUsage)
		return exitUsage
	case *configPath == "":
		fmt.Fprintf(stderr, "breakwater: serve: --config is required\n%s", serveUsage)
		return exitUsage
	case len(clusters) == 0:
		fmt.Fprintf(stderr, "breakwater: serve: at least one --cluster NAME=URL is required\n%s", serveUsage)
		return exitUsage
	case *workers < 1:
		fmt.Fprintf(stderr, "breakwater: serve: --workers must be >= 1, got %d\n", *workers)
		return exitUsage
	case !ok:
		fmt.Fprintf(stderr, "breakwater: serve: unknown --log-level %q\n", *logLevel)
		return exitUsage
	}
	if *upstream != "" {
		if _, ok := clusters[*upstream]; !ok {
			fmt.Fprintf(stderr, "breakwater: serve: --upstream %q is not a --cluster\n", *upstream)
			return exitUsage
		}
	} else if _, ok := clusters[devhost.DefaultUpstreamCluster]; !ok && len(clusters) > 1 {
		fmt.Fprintf(stderr, "breakwater: serve: several clusters and none named %q: say which with --upstream\n", devhost.DefaultUpstreamCluster)
		return exitUsage
	}

	// The configuration is checked with the code the plugin runs at start,
	// so an invalid file gives the same one line as validate.
	cfg, code := loadConfig(*configPath, stderr)
	if code != exitOK {
		return code
	}
	warnClusters(cfg, clusters, stderr)
	wasm, err := os.ReadFile(*wasmPath)
	if err != nil {
		fmt.Fprintf(stderr, "breakwater: serve: %v (run make build)\n", err)
		return exitInvalid
	}
	lnProxy, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "breakwater: serve: %v\n", err)
		return exitInvalid
	}
	defer lnProxy.Close()
	var lnAdmin net.Listener
	if *admin != "" {
		if lnAdmin, err = net.Listen("tcp", *admin); err != nil {
			fmt.Fprintf(stderr, "breakwater: serve: %v\n", err)
			return exitInvalid
		}
		defer lnAdmin.Close()
	}

	logs := &lockedWriter{w: stderr}
	host, err := devhost.New(devhost.Options{
		Wasm: wasm, PluginConfig: cfg, Workers: *workers,
		Clusters: clusters, UpstreamCluster: *upstream,
		LogWriter: logs, LogLevel: level, CompilationCache: sharedCache(),
	})
	if err != nil {
		fmt.Fprintf(stderr, "breakwater: serve: the plugin did not start: %v\n", err)
		return exitInvalid
	}
	defer host.Close()

	proxySrv := &http.Server{Handler: host, ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 2)
	go func() { errs <- proxySrv.Serve(lnProxy) }()
	adminAddr := ""
	var adminSrv *http.Server
	if lnAdmin != nil {
		adminSrv = &http.Server{Handler: host.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { errs <- adminSrv.Serve(lnAdmin) }()
		adminAddr = lnAdmin.Addr().String()
	}
	upName := *upstream
	if upName == "" {
		upName = devhost.DefaultUpstreamCluster
		if len(clusters) == 1 {
			for n := range clusters {
				upName = n
			}
		}
	}
	fmt.Fprintf(stdout, "breakwater: dev host (not a production proxy: use Envoy or Istio), %d worker VMs, upstream cluster %q = %s\n", host.Workers(), upName, clusters[upName])
	fmt.Fprintf(stdout, "breakwater: listening on http://%s\n", lnProxy.Addr())
	if adminAddr != "" {
		fmt.Fprintf(stdout, "breakwater: admin on http://%s (/stats/prometheus, /stats, /ready)\n", adminAddr)
	}
	if env.ready != nil {
		env.ready(lnProxy.Addr().String(), adminAddr)
	}

	for {
		select {
		case err := <-errs:
			fmt.Fprintf(stderr, "breakwater: serve: %v\n", err)
			shutdown(proxySrv, adminSrv, host, env.shutdownTimeout, stderr)
			return exitInvalid
		case sig := <-env.signals:
			if sig == syscall.SIGHUP {
				err := reload(host, *configPath, clusters, logs)
				if err != nil {
					fmt.Fprintf(logs, "breakwater: reload failed, previous configuration kept: %v\n", err)
				} else {
					fmt.Fprintf(logs, "breakwater: reloaded %s\n", *configPath)
				}
				if env.reloaded != nil {
					env.reloaded(err)
				}
				continue
			}
			fmt.Fprintf(logs, "breakwater: %v: shutting down\n", sig)
			shutdown(proxySrv, adminSrv, host, env.shutdownTimeout, logs)
			fmt.Fprintln(logs, "breakwater: stopped")
			return exitOK
		}
	}
}

// loadConfig reads and validates a configuration file; on error it prints
// the one line (as validate does) and returns exitInvalid.
func loadConfig(path string, stderr io.Writer) ([]byte, int) {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "breakwater: %v\n", err)
		return nil, exitInvalid
	}
	if _, err := config.Load(data); err != nil {
		fmt.Fprintln(stderr, err)
		return nil, exitInvalid
	}
	return data, exitOK
}

// reload re-reads the configuration and hands it to the plugin. The file is
// checked first so a bad file gives the config error line, not the
// plugin's log; the plugin can still refuse it (then it keeps the old one).
func reload(host *devhost.Host, path string, clusters clusterFlags, logs io.Writer) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if _, err := config.Load(data); err != nil {
		return err
	}
	warnClusters(data, clusters, logs)
	return host.Reconfigure(data)
}

// warnClusters reports, one line each, the clusters the configuration
// calls (rate_limit.service.cluster) that are not a --cluster: the host
// answers every call to them with BadArgument, as Envoy does for a cluster
// it does not know, so the policy's global limits fall back to its
// failure_mode. The host still starts (Envoy would too).
func warnClusters(data []byte, clusters clusterFlags, w io.Writer) {
	cfg, err := config.Load(data)
	if err != nil {
		return
	}
	for _, p := range cfg.Policies {
		if p.RateLimit == nil || p.RateLimit.Service == nil {
			continue
		}
		svc := p.RateLimit.Service
		if _, ok := clusters[svc.Cluster]; !ok {
			fmt.Fprintf(w, "breakwater: serve: warning: policy %q: rate_limit.service.cluster %q is not a --cluster: every call to the rate limit service will fail and its global limits follow failure_mode %s (add --cluster %s=URL)\n",
				p.Name, svc.Cluster, svc.FailureMode, svc.Cluster)
		}
	}
}

// shutdown stops accepting, lets in-flight requests finish (bounded), then
// closes the host.
func shutdown(proxySrv, adminSrv *http.Server, host *devhost.Host, timeout time.Duration, logs io.Writer) {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := proxySrv.Shutdown(ctx); err != nil {
		fmt.Fprintf(logs, "breakwater: graceful shutdown cut short: %v\n", err)
		proxySrv.Close()
	}
	if adminSrv != nil {
		if err := adminSrv.Shutdown(ctx); err != nil {
			adminSrv.Close()
		}
	}
	host.Close()
}

// lockedWriter serialises writes from the host's log callbacks and serve.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
