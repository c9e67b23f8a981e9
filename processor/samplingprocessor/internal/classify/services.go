package classify

// ianaServices is a curated subset of the IANA Service Name and Transport Protocol Port Number
// Registry: the well-known and registered ports that carry services in enterprise and Azure
// networks. A port listed here is taken as the server side of a flow whose other port is not.
// Names are the IANA service names, except where the de facto service differs and the IANA
// name would mislead (1521 oracle, 2181 zookeeper, 6443 kubernetes-api, 9092 kafka,
// 9200 elasticsearch, 5201 iperf3, 3128 http-proxy). Users add their own through the service map.
var ianaServices = map[uint16]string{
	20: "ftp-data", 21: "ftp", 22: "ssh", 23: "telnet", 25: "smtp", 49: "tacacs", 53: "domain",
	67: "bootps", 68: "bootpc", 69: "tftp", 80: "http", 88: "kerberos", 110: "pop3", 111: "sunrpc",
	119: "nntp", 123: "ntp", 135: "epmap", 137: "netbios-ns", 138: "netbios-dgm", 139: "netbios-ssn",
	143: "imap", 161: "snmp", 162: "snmptrap", 179: "bgp", 389: "ldap", 443: "https", 445: "microsoft-ds",
	464: "kpasswd", 465: "submissions", 500: "isakmp", 514: "syslog", 515: "printer", 520: "router",
	546: "dhcpv6-client", 547: "dhcpv6-server", 554: "rtsp", 587: "submission", 593: "http-rpc-epmap",
	623: "asf-rmcp", 636: "ldaps", 646: "ldp", 853: "domain-s", 860: "iscsi", 873: "rsync",
	989: "ftps-data", 990: "ftps", 993: "imaps", 995: "pop3s",
	1194: "openvpn", 1433: "ms-sql-s", 1434: "ms-sql-m", 1521: "oracle", 1701: "l2tp", 1723: "pptp", 1812: "radius", 1813: "radius-acct", 1883: "mqtt", 2049: "nfs",
	2181: "zookeeper", 2375: "docker", 2376: "docker-s", 2379: "etcd-client", 2380: "etcd-server",
	3128: "http-proxy", 3260: "iscsi-target", 3268: "msft-gc", 3269: "msft-gc-ssl", 3306: "mysql",
	3389: "ms-wbt-server", 3478: "stun", 3784: "bfd-control", 3785: "bfd-echo", 4500: "ipsec-nat-t",
	4739: "ipfix", 4740: "ipfixs", 4784: "bfd-multihop", 5060: "sip", 5061: "sips", 5201: "iperf3",
	5353: "mdns", 5432: "postgresql", 5671: "amqps", 5672: "amqp", 5985: "wsman", 5986: "wsmans",
	6379: "redis", 6443: "kubernetes-api", 6514: "syslog-tls", 8080: "http-alt", 8443: "pcsync-https",
	8883: "secure-mqtt", 9042: "cassandra", 9092: "kafka", 9200: "elasticsearch",
	9418: "git", 10250: "kubelet", 11211: "memcache", 27017: "mongodb",
}

// ServiceName returns the IANA service name of a port, "" if it is not in the table.
func ServiceName(port uint16) string { return ianaServices[port] }
