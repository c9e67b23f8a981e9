package bgpreceiver

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/erviz/otelcol-erviz/internal/ribregistry"
	"github.com/erviz/otelcol-erviz/pkg/rib"
	"github.com/erviz/otelcol-erviz/receiver/bgpreceiver/internal/event"
)

// routing publishes the receiver's RIB for processors of the same collector (the sampling
// processor's routing.source) and tracks its convergence: every configured speaker peer
// established and its initial table received (End-of-RIB for each negotiated family), and
// every MRT file read once. BMP routers are not configured peer by peer: a BMP source
// converges only by the reader's timeout. Its fields belong to the RIB goroutine.
type routing struct {
	src        *ribregistry.Source
	unregister func()
	// peers: configured speaker peers not converged yet -> families still awaiting their
	// End-of-RIB (nil until the session is up).
	peers   map[netip.Addr]map[string]bool
	waitMRT bool
	waitBMP bool
}

// publishRIB registers the RIB under the receiver's component ID (at creation, so that a
// processor starting before the receiver finds it).
func (r *bgpReceiver) publishRIB() {
	r.routing.src = ribregistry.NewSource(r.set.ID, r.rib)
	r.routing.unregister = ribregistry.Register(r.routing.src)
	r.routing.peers = map[netip.Addr]map[string]bool{}
	for a := range r.peers {
		r.routing.peers[a] = nil
	}
	r.routing.waitMRT = len(r.cfg.MRT.Include) > 0
	r.routing.waitBMP = r.cfg.BMP.Endpoint != ""
}

// routingStep runs fn on the RIB goroutine.
type routingStep struct {
	event.Header
	fn func()
}

// routingStarted marks the start of the sources (the convergence timeout counts from here)
// and checks convergence, which is immediate when nothing is awaited.
func (r *bgpReceiver) routingStarted() {
	r.routing.src.MarkStarted(time.Now())
	r.enqueue(&routingStep{fn: r.routingCheck})
}

func (r *bgpReceiver) routingPeerUp(e *event.PeerUp) {
	if e.Peer.Kind != rib.SourceBGP {
		return
	}
	fams, ok := r.routing.peers[e.Peer.Addr]
	if !ok || fams != nil {
		return
	}
	fams = map[string]bool{}
	if e.Session != nil {
		for _, f := range e.Session.Families {
			fams[f] = true
		}
	}
	r.routing.peers[e.Peer.Addr] = fams
}

func (r *bgpReceiver) routingEndOfRIB(e *event.Update) {
	if e.Peer.Kind != rib.SourceBGP {
		return
	}
	fams, ok := r.routing.peers[e.Peer.Addr]
	if !ok || fams == nil {
		return
	}
	delete(fams, e.EndOfRIBFamily)
	if len(fams) == 0 || e.EndOfRIBFamily == "" {
		delete(r.routing.peers, e.Peer.Addr)
		r.routingCheck()
	}
}

// routingMRTLoaded is called (on the RIB goroutine) once the MRT reader's first pass over
// the files has been handled.
func (r *bgpReceiver) routingMRTLoaded() {
	r.routing.waitMRT = false
	r.routingCheck()
}

func (r *bgpReceiver) routingCheck() {
	ro := &r.routing
	if ro.src.Converged() || len(ro.peers) > 0 || ro.waitMRT || ro.waitBMP {
		return
	}
	ro.src.SetConverged()
	st := r.rib.Stats()
	r.logger.Info("RIB converged", zap.String("rib", r.set.ID.String()), zap.Int("prefixes", st.Prefixes()), zap.Int("paths", st.Paths))
}
