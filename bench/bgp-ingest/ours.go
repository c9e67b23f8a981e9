package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/schema"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver"
)

// counter is the logs consumer behind our receiver: it counts records by event name and
// keeps nothing. onAnnounce, when set, sees the prefix of every announce (tests only).
type counter struct {
	announce   atomic.Int64
	records    atomic.Int64
	mu         sync.Mutex
	byEvent    map[string]int64
	onAnnounce func(prefix string)
}

func (c *counter) consume(_ context.Context, ld plog.Logs) error {
	var ann int64
	c.mu.Lock()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				ev := lr.EventName()
				c.byEvent[ev]++
				if ev == schema.BGPEventAnnounce {
					ann++
					if c.onAnnounce != nil {
						if v, ok := lr.Attributes().Get(schema.BGPPrefix); ok {
							c.onAnnounce(v.Str())
						}
					}
				}
			}
		}
	}
	c.mu.Unlock()
	c.records.Add(int64(ld.LogRecordCount()))
	c.announce.Add(ann)
	return nil
}

func (c *counter) events() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.byEvent))
	for k, v := range c.byEvent {
		out[k] = v
	}
	return out
}

// ours is our bgp receiver, built through its factory, peering with the sender.
type ours struct {
	logs    receiver.Logs
	metrics receiver.Metrics
	tel     *componenttest.Telemetry
	count   *counter
}

// startOurs starts the bgp receiver with one active peer (the sender at senderAddr) from
// localAddr, every analysis on or every analysis off, a counting logs consumer and a nop
// metrics consumer. queueSize > 0 replaces the default queue_size.
func startOurs(senderAddr, localAddr string, analyses bool, queueSize int, logger *zap.Logger) (*ours, error) {
	host, portText, err := net.SplitHostPort(senderAddr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, err
	}
	f := bgpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*bgpreceiver.Config)
	cfg.ASN = receiverASN
	cfg.RouterID = "192.0.2.100"
	cfg.Peers = []bgpreceiver.PeerConfig{{
		Address: host, Port: uint16(port), ASN: senderASN, Name: "bench", LocalAddress: localAddr,
		Families: []string{"ipv4_unicast", "ipv6_unicast"}, ConnectRetry: time.Second,
	}}
	if queueSize > 0 {
		cfg.QueueSize = queueSize
	}
	if !analyses {
		a := &cfg.Analyses
		a.Overlap.Enabled = false
		a.Redundancy.Enabled = false
		a.Flap.Enabled = false
		a.AdjacencyFlap.Enabled = false
		a.MOAS.Enabled = false
		a.OriginChange.Enabled = false
		a.PrefixCount.Enabled = false
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := &ours{tel: componenttest.NewTelemetry(), count: &counter{byEvent: map[string]int64{}}}
	set := receivertest.NewNopSettings(f.Type())
	set.TelemetrySettings = o.tel.NewTelemetrySettings()
	set.Logger = logger
	lc, err := consumer.NewLogs(o.count.consume)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	if o.logs, err = f.CreateLogs(ctx, set, cfg, lc); err != nil {
		return nil, err
	}
	if o.metrics, err = f.CreateMetrics(ctx, set, cfg, consumertest.NewNop()); err != nil {
		return nil, err
	}
	if err := o.logs.Start(ctx, componenttest.NewNopHost()); err != nil {
		return nil, err
	}
	if err := o.metrics.Start(ctx, componenttest.NewNopHost()); err != nil {
		_ = o.logs.Shutdown(ctx)
		return nil, err
	}
	return o, nil
}

// wait polls the announce count until it reaches n; it gives up when the count stops
// moving for stall (after the first route) or at the deadline.
func (o *ours) wait(n int64, stall time.Duration, deadline time.Time) (time.Time, error) {
	last, moved := int64(-1), time.Now()
	for {
		now := time.Now()
		c := o.count.announce.Load()
		if c >= n {
			return now, nil
		}
		if c != last {
			last, moved = c, now
		} else if c > 0 && now.Sub(moved) > stall {
			return now, fmt.Errorf("stalled at %d of %d announces for %s", c, n, stall)
		}
		if now.After(deadline) {
			return now, fmt.Errorf("timed out at %d of %d announces", c, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (o *ours) shutdown() error {
	ctx := context.Background()
	err := errors.Join(o.logs.Shutdown(ctx), o.metrics.Shutdown(ctx))
	return errors.Join(err, o.tel.Shutdown(ctx))
}
