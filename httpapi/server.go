// Package httpapi is the REST facade of the dialer for integrators: the
// seed documents' /api/v2/dialer API (campaigns, members, call results,
// calendars, statistics and call history) on Echo, with token auth, input
// validation that names every bad field, an OpenAPI document, per-route
// metrics, health and readiness.
package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fsdialer/fsdialer/clock"
	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/store"
)

// Config wires the API.
type Config struct {
	Engine *dialer.Engine
	Store  *store.Store
	Clock  clock.Clock
	// Tokens may read and write; ReadTokens only read. They are checked in
	// X-Access-Token or X-Key. With no tokens at all the API is open.
	Tokens     []string
	ReadTokens []string
	// PublicMetrics and PublicHealth serve /metrics and /healthz, /readyz
	// without a token.
	PublicMetrics bool
	PublicHealth  bool
	Gatherer      prometheus.Gatherer   // for /metrics (default: the default registry)
	Registerer    prometheus.Registerer // for the per-route metrics (nil: none)
	// Ready reports whether the dialer can work (Redis and a switch reachable).
	Ready   func(ctx context.Context) error
	Logger  *slog.Logger
	MaxBody int64 // bytes; default 64 MiB
}

// api holds the handlers' dependencies.
type api struct {
	cfg   Config
	eng   *dialer.Engine
	st    *store.Store
	clock clock.Clock
	log   *slog.Logger

	// readiness is the last /readyz answer, so that only its changes are
	// logged: a probe asks every few seconds.
	readyMu   sync.Mutex
	readiness string // "", "ready" or "not ready"
}

// New returns the HTTP handler of the API.
func New(cfg Config) *echo.Echo {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Gatherer == nil {
		cfg.Gatherer = prometheus.DefaultGatherer
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 20
	}
	a := &api{cfg: cfg, eng: cfg.Engine, st: cfg.Store, clock: cfg.Clock, log: cfg.Logger}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = a.errorHandler
	e.Use(a.recoverer, a.requestLog(cfg.Registerer), a.bodyLimit)

	health := e.Group("", a.auth(!cfg.PublicHealth, false))
	health.GET("/healthz", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"status": "OK"}) })
	health.GET("/readyz", a.ready)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{})), a.auth(!cfg.PublicMetrics, false))

	v2 := e.Group("/api/v2")
	v2.GET("/openapi.json", a.openAPI)
	read := v2.Group("", a.auth(true, false))
	write := v2.Group("", a.auth(true, true))
	a.routes(read, write)
	// Webitel's path of click-to-call, which CRMs written for it call.
	e.Group("/api", a.auth(true, true)).POST("/calls", func(c echo.Context) error { return a.createCall(c) })
	allowOthers(e)
	return e
}

// notAllowedRoute names the routes allowOthers adds.
const notAllowedRoute = "method not allowed"

// allowOthers answers 405, with an Allow header, every method a known path
// does not have: without it the groups' catch-all routes answer 404, as if
// the path did not exist.
func allowOthers(e *echo.Echo) {
	allowed := map[string][]string{}
	var paths []string
	for _, r := range e.Routes() {
		if r.Method == echo.RouteNotFound || strings.Contains(r.Path, "*") {
			continue
		}
		if allowed[r.Path] == nil {
			paths = append(paths, r.Path)
		}
		allowed[r.Path] = append(allowed[r.Path], r.Method)
	}
	for _, path := range paths {
		methods := allowed[path]
		sort.Strings(methods)
		allow := strings.Join(methods, ", ")
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			if slices.Contains(methods, m) {
				continue
			}
			e.Add(m, path, func(c echo.Context) error {
				c.Response().Header().Set(echo.HeaderAllow, allow)
				return apiError(http.StatusMethodNotAllowed, c.Request().Method+" is not a method of this path: it takes "+allow)
			}).Name = notAllowedRoute
		}
	}
}

// auth checks the access token; write routes need a write token. With no
// tokens configured everything is open.
func (a *api) auth(required, write bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !required || len(a.cfg.Tokens)+len(a.cfg.ReadTokens) == 0 {
				return next(c)
			}
			token := c.Request().Header.Get("X-Access-Token")
			if token == "" {
				token = c.Request().Header.Get("X-Key")
			}
			if token == "" {
				return apiError(http.StatusUnauthorized, "missing access token: send it in X-Access-Token (or X-Key)")
			}
			canWrite, canRead := matches(token, a.cfg.Tokens), matches(token, a.cfg.ReadTokens)
			switch {
			case canWrite, canRead && !write:
				return next(c)
			case canRead:
				return apiError(http.StatusForbidden, "this token may read but not write")
			}
			return apiError(http.StatusUnauthorized, "invalid access token")
		}
	}
}

// matches compares in constant time against every token.
func matches(token string, tokens []string) bool {
	ok := 0
	for _, t := range tokens {
		ok |= subtle.ConstantTimeCompare([]byte(token), []byte(t))
	}
	return ok == 1
}

// ready answers the readiness probe. Not being ready (Redis or every
// switch away) is a state the dialer expects and rides out, not a failed
// request: it is logged once when it begins (WARN) and once when it ends.
func (a *api) ready(c echo.Context) error {
	var err error
	if a.cfg.Ready != nil {
		err = a.cfg.Ready(c.Request().Context())
	}
	now := "ready"
	if err != nil {
		now = "not ready"
	}
	a.readyMu.Lock()
	was := a.readiness
	a.readiness = now
	a.readyMu.Unlock()
	switch {
	case now == was:
	case err != nil:
		a.log.Warn("httpapi: not ready", "reason", err)
	case was != "":
		a.log.Info("httpapi: ready again")
	}
	if err != nil {
		return apiError(http.StatusServiceUnavailable, "not ready: "+err.Error())
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "OK"})
}

// probes are answered for load balancers and orchestrators, not clients:
// they are not counted as the API's requests, whose 5xx rate is an alert
// (deploy/prometheus-rules.yml, DialerAPIErrors), and their handlers log
// what is worth it.
func isProbe(route string) bool { return route == "/healthz" || route == "/readyz" }

// bodyLimit refuses bodies over MaxBody.
func (a *api) bodyLimit(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > a.cfg.MaxBody {
			return apiError(http.StatusRequestEntityTooLarge, "body of "+strconv.FormatInt(r.ContentLength, 10)+" bytes is over the limit of "+strconv.FormatInt(a.cfg.MaxBody, 10))
		}
		r.Body = http.MaxBytesReader(c.Response(), r.Body, a.cfg.MaxBody)
		return next(c)
	}
}

func (a *api) recoverer(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				a.log.Error("httpapi: panic", "panic", p, "path", c.Path())
				err = apiError(http.StatusInternalServerError, "internal error")
			}
		}()
		return next(c)
	}
}

// requestLog logs every request and counts it by route.
func (a *api) requestLog(reg prometheus.Registerer) echo.MiddlewareFunc {
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialer_http_requests_total", Help: "HTTP requests by route and status (not /healthz and /readyz)."}, []string{"method", "route", "status"})
	lat := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dialer_http_request_seconds", Help: "HTTP request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"method", "route"})
	if reg != nil {
		reg.MustRegister(reqs, lat)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			route, status := c.Path(), c.Response().Status
			probe := isProbe(route) && c.Request().Method == http.MethodGet
			if !probe {
				reqs.WithLabelValues(c.Request().Method, route, strconv.Itoa(status)).Inc()
			}
			lat.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
			level := slog.LevelDebug
			if status >= 500 && !probe {
				level = slog.LevelError
			}
			a.log.Log(c.Request().Context(), level, "http", "method", c.Request().Method, "path", c.Request().URL.Path, "status", status, "took", time.Since(start))
			return nil
		}
	}
}

// errorBody is every error response: the seed's status, a message, and
// for validation errors each offending field.
type errorBody struct {
	Status string             `json:"status"`
	Error  string             `json:"error"`
	Fields []store.FieldError `json:"fields,omitempty"`
}

// httpError is an error with its status.
type httpError struct {
	code   int
	msg    string
	fields []store.FieldError
}

func (e *httpError) Error() string { return e.msg }

func apiError(code int, msg string) error { return &httpError{code: code, msg: msg} }

// statusClientClosedRequest answers a request whose client hung up before
// the answer (nginx's 499): nobody reads it, and it is neither the
// server's failure nor the store's, so it stays out of the 5xx alert.
const statusClientClosedRequest = 499

// errorHandler maps errors to statuses: store kinds to 404/409/422, the
// store unavailable (store.ErrUnavailable) to 503, and anything else to a
// 500 logged at ERROR. An unknown error is a bug, and must not look like a
// Redis outage, which is what a 503 tells the operator (DialerAPIErrors).
func (a *api) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var (
		he  *httpError
		ee  *echo.HTTPError
		ve  *store.ValidationError
		mbe *http.MaxBytesError
	)
	path := c.Request().URL.Path
	code, body := http.StatusInternalServerError, errorBody{Status: "error", Error: err.Error()}
	switch ctxErr := c.Request().Context().Err(); {
	case errors.As(err, &he):
		code, body.Fields = he.code, he.fields
	case errors.As(err, &ve):
		code, body.Fields = http.StatusUnprocessableEntity, ve.Errors
	case errors.As(err, &mbe):
		code, body.Error = http.StatusRequestEntityTooLarge, "body over the limit of "+strconv.FormatInt(mbe.Limit, 10)+" bytes"
	case errors.Is(err, store.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, store.ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, store.ErrInvalid):
		code = http.StatusUnprocessableEntity
	case errors.As(err, &ee):
		code, body.Error = ee.Code, http.StatusText(ee.Code)
		if m, ok := ee.Message.(string); ok {
			body.Error = m
		}
	// Whatever failed once the client hung up (a store call cut short,
	// Redis timing out meanwhile), the client is gone: not a failure to
	// count or report.
	case errors.Is(ctxErr, context.Canceled):
		code, body.Error = statusClientClosedRequest, "client closed request"
	// A deadline on the request (a proxy's or a middleware's) ran out while
	// the store had not answered: the store was too slow, as in a 503.
	case errors.Is(ctxErr, context.DeadlineExceeded):
		code, body.Error = http.StatusServiceUnavailable, "the store is unavailable: the request timed out: "+err.Error()
		a.log.Warn("httpapi: request timed out", "path", path, "error", err)
	case errors.Is(err, store.ErrUnavailable):
		code, body.Error = http.StatusServiceUnavailable, "the store is unavailable: "+err.Error()
		a.log.Warn("httpapi: store unavailable", "path", path, "error", err)
	default:
		// The text may be Go's own words about internals (a JSON decoder's,
		// a struct's): the log has it, the client gets no riddle.
		body.Error = "internal error"
		a.log.Error("httpapi: internal error", "method", c.Request().Method, "path", path, "error", err)
	}
	if err := c.JSON(code, body); err != nil && code != statusClientClosedRequest {
		a.log.Warn("httpapi: error not written", "error", err)
	}
}
