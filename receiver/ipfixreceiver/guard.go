package ipfixreceiver

import (
	"context"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/tcpserver"
	"github.com/erviz/otelcol-erviz/internal/throttle"
	"github.com/erviz/otelcol-erviz/pkg/ipfix"
)

// logInterval: a source's drops and refusals are logged at most once per interval.
const logInterval = time.Minute

// maxLoggedSources bounds the sources the log limiter remembers.
const maxLoggedSources = 4096

// guard holds what makes every drop visible: telemetry attribute sets made once, the
// error totals already exported, and the per-source log limiter.
type guard struct {
	errorOpts   map[string]metric.MeasurementOption
	refusalOpts [tcpserver.NumReasons]metric.MeasurementOption
	exported    ipfix.ErrorCounts
	limiter     *throttle.PerKey[netip.Addr]
	nextPersist time.Time
}

func newGuard() guard {
	g := guard{errorOpts: map[string]metric.MeasurementOption{}, limiter: throttle.New[netip.Addr](logInterval, maxLoggedSources)}
	for _, k := range ipfix.ErrorKinds() {
		g.errorOpts[k.String()] = metric.WithAttributeSet(attribute.NewSet(attribute.String("error", k.String())))
	}
	g.errorOpts["tcp_framing"] = metric.WithAttributeSet(attribute.NewSet(attribute.String("error", "tcp_framing")))
	for r := range tcpserver.NumReasons {
		g.refusalOpts[r] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", r.String())))
	}
	return g
}

func (g *guard) errorOpt(kind string) metric.MeasurementOption { return g.errorOpts[kind] }

// noteworthy are the errors that drop a whole message or refuse state: logged (throttled)
// with the exporter named. Errors inside a message an exporter's own series shows.
var noteworthy = map[ipfix.ErrorKind]bool{
	ipfix.ErrShortMessage: true, ipfix.ErrUnknownVersion: true, ipfix.ErrMessageLength: true,
	ipfix.ErrExporterLimit: true, ipfix.ErrDomainLimit: true, ipfix.ErrTemplateLimit: true,
	ipfix.ErrTemplateBytesLimit: true, ipfix.ErrTemplateTooManyFields: true, ipfix.ErrUnknownDomain: true,
	ipfix.ErrSamplerLimit: true, ipfix.ErrRecordLimit: true, ipfix.ErrPanic: true,
}

// noteDecodeError logs the first error of a message, at most once per interval per exporter.
func (r *ipfixReceiver) noteDecodeError(exporter netip.Addr, err error) {
	k, ok := err.(ipfix.ErrorKind)
	if !ok || !noteworthy[k] {
		return
	}
	r.logSource(exporter, "ipfix: input dropped", zap.String("error", k.String()),
		zap.String("hint", hints[k]))
}

var hints = map[ipfix.ErrorKind]string{
	ipfix.ErrUnknownDomain:         "no template known yet for this exporter and observation domain; data is dropped until the exporter sends its templates",
	ipfix.ErrExporterLimit:         "max_exporters reached",
	ipfix.ErrDomainLimit:           "max_domains_per_exporter reached",
	ipfix.ErrTemplateLimit:         "max_templates or max_templates_per_exporter reached",
	ipfix.ErrTemplateBytesLimit:    "max_template_bytes reached",
	ipfix.ErrTemplateTooManyFields: "max_fields_per_template exceeded",
}

// logSource logs a warning naming the source, at most once per interval per source.
func (r *ipfixReceiver) logSource(src netip.Addr, msg string, fields ...zap.Field) {
	ok, suppressed := r.limiter.Allow(src)
	if !ok {
		return
	}
	fields = append(fields, zap.Stringer("exporter", src), zap.Uint64("suppressed_since_last", suppressed))
	r.set.Logger.Warn(msg, fields...)
}

// persistPaced saves the state when it changed, at most once a second, and after a large
// snapshot no sooner than a second per MiB written (at most 30 s): under a template bomb the
// state changes constantly, and the storage is not rewritten with megabytes every second.
// Shutdown always saves.
func (r *ipfixReceiver) persistPaced(ctx context.Context, now time.Time) {
	if now.Before(r.nextPersist) {
		return
	}
	n := r.persist(ctx)
	r.nextPersist = now.Add(min(time.Duration(n>>20)*time.Second, 30*time.Second))
}

// reportDecoder exports the decoder-wide error totals (deltas) and the state gauges.
func (r *ipfixReceiver) reportDecoder(ctx context.Context) {
	var total ipfix.ErrorCounts
	for _, d := range r.decoder.all() {
		t := d.Totals()
		for k := range t {
			total[k] += t[k]
		}
	}
	for _, k := range ipfix.ErrorKinds() {
		if d := total[k] - r.exported[k]; d > 0 {
			r.telemetry.ReceiverIpfixDecodeErrors.Add(ctx, int64(d), r.errorOpts[k.String()])
		}
	}
	r.exported = total
	r.telemetry.ReceiverIpfixExporters.Record(ctx, int64(r.decoder.shared.Exporters()))
	r.telemetry.ReceiverIpfixTemplates.Record(ctx, int64(r.decoder.shared.Templates()))
	r.telemetry.ReceiverIpfixTemplateBytes.Record(ctx, int64(r.decoder.shared.TemplateBytes()))
}
