package loganalyticsexporter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/monitor/ingestion/azlogs"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/exporter/loganalyticsexporter/internal/metadata"
	"github.com/erviz/otelcol-erviz/pkg/loganalytics"
)

type logsExporter struct {
	cfg       *Config
	opts      *options
	logger    *zap.Logger
	telemetry *metadata.TelemetryBuilder
	client    *azlogs.Client
	packers   sync.Pool
	warned    sync.Map // stream+reason of drops already logged at warn level
}

func newExporter(set exporter.Settings, cfg *Config, o *options) (*logsExporter, error) {
	tb, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	if o == nil {
		o = &options{}
	}
	e := &logsExporter{cfg: cfg, opts: o, logger: set.Logger, telemetry: tb}
	streams := cfg.Streams.byKind()
	e.packers.New = func() any {
		p := &loganalytics.Packer{MaxBytes: cfg.MaxRequestBytes, Mapper: loganalytics.NewMapper(nil)}
		copy(p.Streams[:], streams[:])
		return p
	}
	return e, nil
}

func (e *logsExporter) start(context.Context, component.Host) error {
	cred := e.opts.credential
	if cred == nil && e.cfg.Auth.TokenFile != "" {
		cred = tokenFileCredential{path: e.cfg.Auth.TokenFile}
		e.logger.Warn("auth::token_file is set: the bearer token is read from a file, which is meant for tests only; use the default credential chain with Azure",
			zap.String("token_file", e.cfg.Auth.TokenFile))
	}
	if cred == nil {
		c, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return fmt.Errorf("azure_log_analytics: default Azure credential: %w", err)
		}
		cred = c
	}
	copts := &azlogs.ClientOptions{}
	// The exporter's own retry (retry_on_failure, honouring Retry-After) and the sending queue
	// take over: the SDK must not retry on its own, so that every attempt is counted and
	// nothing is retried twice over.
	copts.Retry = policy.RetryOptions{MaxRetries: -1}
	if e.opts.transport != nil {
		copts.Transport = e.opts.transport
	}
	client, err := azlogs.NewClient(e.cfg.Endpoint, cred, copts)
	if err != nil {
		return fmt.Errorf("azure_log_analytics: %w", err)
	}
	e.client = client
	return nil
}

func (e *logsExporter) shutdown(context.Context) error {
	e.telemetry.Shutdown()
	return nil
}

func streamAttr(s string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("stream", s)))
}

// push sends the records of ld, one request per stream and size limit. It returns nil when
// every row was accepted or dropped for good (counted and logged); on a retryable failure
// (429, 5xx, no answer) it returns the records not yet sent, so the retry resends only them.
func (e *logsExporter) push(ctx context.Context, ld plog.Logs) error {
	p := e.packers.Get().(*loganalytics.Packer)
	reqs, drops := p.Pack(ld)
	e.packers.Put(p)
	e.countDrops(ctx, drops)
	for i := 0; i < len(reqs); i++ {
		r := reqs[i]
		err := e.upload(ctx, r)
		if err == nil {
			e.telemetry.ExporterLoganalyticsRowsSent.Add(ctx, int64(len(r.Refs)), streamAttr(r.Stream))
			continue
		}
		var re *azcore.ResponseError
		status := 0
		if errors.As(err, &re) {
			status = re.StatusCode
		}
		switch {
		case status == http.StatusRequestEntityTooLarge && len(r.Refs) > 1:
			// Smaller than the documented limit and still too large: halve it.
			a, b := r.Split()
			e.logger.Warn("the Logs Ingestion API answered 413: splitting the request", zap.String("stream", r.Stream), zap.Int("rows", len(r.Refs)), zap.Int("bytes", len(r.Body)))
			reqs = append(reqs[:i+1], append([]loganalytics.Request{a, b}, reqs[i+1:]...)...)
			continue
		case status >= 400 && status < 500 && status != http.StatusTooManyRequests && status != http.StatusRequestTimeout:
			code, msg := errorDetail(re)
			e.telemetry.ExporterLoganalyticsRowsDropped.Add(ctx, int64(len(r.Refs)), metric.WithAttributeSet(attribute.NewSet(
				attribute.String("stream", r.Stream), attribute.String("reason", loganalytics.ReasonRejected))))
			e.logger.Error("the Logs Ingestion API rejected rows for good: dropped",
				zap.String("stream", r.Stream), zap.Int("rows", len(r.Refs)), zap.Int("status", status),
				zap.String("error_code", code), zap.String("reason", msg))
			continue
		}
		// Retryable: the records of this request and the following ones go back.
		if delay := retryAfter(re); delay > 0 {
			err = exporterhelper.NewThrottleRetry(err, delay)
		}
		return consumererror.NewLogs(fmt.Errorf("stream %s: %w", r.Stream, err), subset(ld, reqs[i:]))
	}
	return nil
}

func (e *logsExporter) upload(ctx context.Context, r loganalytics.Request) error {
	body := r.Body
	var opts *azlogs.UploadOptions
	if e.cfg.Compression == "gzip" {
		body = loganalytics.Gzip(body)
		gz := "gzip"
		opts = &azlogs.UploadOptions{ContentEncoding: &gz}
	}
	_, err := e.client.Upload(ctx, e.cfg.DCRImmutableID, r.Stream, body, opts)
	status := 204
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		status = re.StatusCode
	} else if err != nil {
		status = 0
	}
	e.telemetry.ExporterLoganalyticsRequests.Add(ctx, 1, metric.WithAttributeSet(attribute.NewSet(
		attribute.String("stream", r.Stream), attribute.Int("status_code", status))))
	e.telemetry.ExporterLoganalyticsRequestBytes.Add(ctx, int64(len(body)), streamAttr(r.Stream))
	return err
}

// countDrops counts and logs the records that got no row: the first time a stream and reason
// come up at warn level, later at debug level (a disabled stream would flood the log).
func (e *logsExporter) countDrops(ctx context.Context, drops []loganalytics.Drop) {
	if len(drops) == 0 {
		return
	}
	type key struct{ stream, reason string }
	n := map[key]int{}
	streams := e.cfg.Streams.byKind()
	for _, d := range drops {
		k := key{reason: d.Reason}
		if d.Reason != loganalytics.ReasonNotOurs {
			k.stream = streams[d.Kind]
			if k.stream == "" {
				k.stream = loganalytics.Tables[d.Kind].Key
			}
		}
		n[k]++
	}
	for k, c := range n {
		e.telemetry.ExporterLoganalyticsRowsDropped.Add(ctx, int64(c), metric.WithAttributeSet(attribute.NewSet(
			attribute.String("stream", k.stream), attribute.String("reason", k.reason))))
		lvl := zap.DebugLevel
		if _, seen := e.warned.LoadOrStore(k, true); !seen || k.reason == loganalytics.ReasonRowTooLarge {
			lvl = zap.WarnLevel
		}
		e.logger.Log(lvl, "records dropped before sending", zap.String("stream", k.stream), zap.String("reason", k.reason), zap.Int("records", c))
	}
}

// retryAfter reads the delay the API asks for (Retry-After in seconds or as an HTTP date,
// retry-after-ms, x-ms-retry-after-ms).
func retryAfter(re *azcore.ResponseError) time.Duration {
	if re == nil || re.RawResponse == nil {
		return 0
	}
	h := re.RawResponse.Header
	for _, name := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if ms, err := strconv.ParseInt(h.Get(name), 10, 64); err == nil && ms > 0 {
			return time.Duration(ms) * time.Millisecond
		}
	}
	v := h.Get("Retry-After")
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// subset returns the records of ld that the requests carry.
func subset(ld plog.Logs, reqs []loganalytics.Request) plog.Logs {
	want := map[loganalytics.RecordRef]bool{}
	for _, r := range reqs {
		for _, ref := range r.Refs {
			want[ref] = true
		}
	}
	out := plog.NewLogs()
	for ri, rl := range ld.ResourceLogs().All() {
		var orl plog.ResourceLogs
		for si, sl := range rl.ScopeLogs().All() {
			var osl plog.ScopeLogs
			for li, lr := range sl.LogRecords().All() {
				if !want[loganalytics.RecordRef{Resource: ri, Scope: si, Record: li}] {
					continue
				}
				if orl == (plog.ResourceLogs{}) {
					orl = out.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(orl.Resource())
					orl.SetSchemaUrl(rl.SchemaUrl())
				}
				if osl == (plog.ScopeLogs{}) {
					osl = orl.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(osl.Scope())
					osl.SetSchemaUrl(sl.SchemaUrl())
				}
				lr.CopyTo(osl.LogRecords().AppendEmpty())
			}
		}
	}
	return out
}
