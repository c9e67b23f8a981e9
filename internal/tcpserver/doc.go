// Package tcpserver is the one hardened TCP server behind every listener of the collector
// that untrusted hosts can reach: the BMP station, IPFIX over TCP (and TLS) and the BGP
// speaker's listener. It knows nothing about what the connections carry.
//
// What it guarantees, per listener:
//   - the allow-list is checked at accept, before a connection takes a slot, so addresses
//     outside it can never crowd out legitimate ones;
//   - at most MaxConnections connections at once, and at most MaxPerSource from one address;
//   - a read deadline: a connection that sends nothing for IdleTimeout is closed (each Read
//     through Conn re-arms it), and a TLS handshake must finish within HandshakeTimeout;
//   - a maximum pending message size: the protocol code calls Conn.CheckSize with each
//     length it reads from the wire before buffering that many bytes;
//   - every refusal is counted per Reason (Stats, and the OnRefuse hook for the caller's
//     telemetry) and logged at most once per LogInterval per source address, naming it;
//   - the accept loop survives file descriptor exhaustion (EMFILE, ENFILE) and other
//     accept errors: it backs off exponentially (never spins) and, with a descriptor held in
//     reserve, takes the waiting connection off the kernel's queue and closes it, so clients
//     get a prompt reset instead of a hang. Each listener has its own loop: one in trouble
//     does not stop the others.
//
// Use:
//
//	ln, _ := net.Listen("tcp", ":4739")
//	srv := tcpserver.New(ln, tcpserver.Config{
//		Name:           "ipfix",
//		Allowed:        allowed.Contains, // nil accepts any address
//		MaxConnections: 64,
//		MaxPerSource:   4,
//		IdleTimeout:    5 * time.Minute,
//		MaxMessageSize: 65535,
//		TLS:            tlsConfig, // nil for plain TCP
//		Logger:         logger,
//		OnRefuse:       func(r tcpserver.Reason, src netip.Addr) { counter.Add(ctx, 1, r.String()) },
//	})
//	srv.Start(func(c *tcpserver.Conn) {
//		// c.Slot() is in [0, MaxConnections): per-connection state can live in a slice.
//		// Read from c; before reading a message body of n bytes:
//		//   if err := c.CheckSize(n); err != nil { return }
//		// The server closes c when the handler returns.
//	})
//	defer srv.Close() // stops accepting, closes every connection, waits for the handlers
//
// A connection holds its slot until its handler returns: a handler that hands the connection
// to another goroutine (a BGP session) waits for that goroutine to be done with it. The
// embedded c.Conn is the accepted *net.TCPConn (a *tls.Conn with TLS), for socket options
// such as IP_TTL; listener options (TCP-MD5 keys) are set on the listener before New.
package tcpserver
