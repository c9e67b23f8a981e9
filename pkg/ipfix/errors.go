package ipfix

// ErrorKind is a class of decode error. Every error Decode meets is
// counted by kind (see Stats); Decode returns the first one of a message.
// ErrorKind implements error.
type ErrorKind uint8

// Error kinds.
const (
	ErrNone ErrorKind = iota
	// ErrShortMessage: the datagram is shorter than a message header.
	ErrShortMessage
	// ErrUnknownVersion: the version is neither 9 nor 10.
	ErrUnknownVersion
	// ErrMessageLength: the IPFIX header length is below the header size
	// or past the end of the datagram.
	ErrMessageLength
	// ErrSetLength: a set header is truncated, its length is below 4 or
	// runs past the end of the message. The rest of the message is
	// skipped.
	ErrSetLength
	// ErrReservedSetID: a set ID reserved by the RFCs (IPFIX 0, 1, 4-255;
	// NetFlow v9 2-255). The set is skipped.
	ErrReservedSetID
	// ErrTemplateTruncated: a template record runs past its set.
	ErrTemplateTruncated
	// ErrTemplateZeroFields: a template with no field that is not a
	// withdrawal (always for NetFlow v9).
	ErrTemplateZeroFields
	// ErrTemplateID: a template ID below 256.
	ErrTemplateID
	// ErrTemplateTooManyFields: more fields than Config.MaxFieldsPerTemplate.
	ErrTemplateTooManyFields
	// ErrTemplateScope: an options template whose scope field count is
	// zero or above its field count, or a NetFlow v9 scope/option length
	// that is not a multiple of 4.
	ErrTemplateScope
	// ErrTemplateZeroLength: a template whose records would be empty.
	ErrTemplateZeroLength
	// ErrTemplateLimit: the exporter (or the decoder) holds the maximum
	// number of templates; the new template is dropped.
	ErrTemplateLimit
	// ErrMissingTemplate: a data set refers to an unknown (or expired)
	// template; the set is skipped.
	ErrMissingTemplate
	// ErrRecordTruncated: a variable-length data record runs past its set.
	ErrRecordTruncated
	// ErrRecordLimit: a data set holds more than Config.MaxRecordsPerSet
	// records; the rest of the set is skipped.
	ErrRecordLimit
	// ErrExporterLimit: Config.MaxExporters exporters are tracked; the
	// message of a new exporter is dropped.
	ErrExporterLimit
	// ErrDomainLimit: the exporter has Config.MaxDomainsPerExporter
	// observation domains; the message is dropped.
	ErrDomainLimit
	// ErrSamplerLimit: the domain has Config.MaxSamplersPerDomain
	// samplers; the new sampler is ignored.
	ErrSamplerLimit
	// ErrPanic: decoding the message panicked (a bug); the panic was
	// recovered and the rest of the message dropped.
	ErrPanic
	// ErrUnknownDomain: a message from an (exporter, observation domain)
	// the decoder holds no state for, carrying no template it could learn:
	// it is dropped without creating state (its data sets could not be
	// decoded anyway).
	ErrUnknownDomain
	// ErrTemplateBytesLimit: the templates held reach
	// Config.MaxTemplateBytes; the new template is dropped.
	ErrTemplateBytesLimit
	// ErrTemplateEvicted: a template of this domain was removed to make
	// room for an exporter below its fair share (counted in the victim's
	// domain; not returned by Decode).
	ErrTemplateEvicted
	numErrorKinds
)

var errorNames = [numErrorKinds]string{
	ErrNone:                  "none",
	ErrShortMessage:          "short_message",
	ErrUnknownVersion:        "unknown_version",
	ErrMessageLength:         "message_length",
	ErrSetLength:             "set_length",
	ErrReservedSetID:         "reserved_set_id",
	ErrTemplateTruncated:     "template_truncated",
	ErrTemplateZeroFields:    "template_zero_fields",
	ErrTemplateID:            "template_id",
	ErrTemplateTooManyFields: "template_too_many_fields",
	ErrTemplateScope:         "template_scope",
	ErrTemplateZeroLength:    "template_zero_length",
	ErrTemplateLimit:         "template_limit",
	ErrMissingTemplate:       "missing_template",
	ErrRecordTruncated:       "record_truncated",
	ErrRecordLimit:           "record_limit",
	ErrExporterLimit:         "exporter_limit",
	ErrDomainLimit:           "domain_limit",
	ErrSamplerLimit:          "sampler_limit",
	ErrPanic:                 "panic",
	ErrUnknownDomain:         "unknown_domain",
	ErrTemplateBytesLimit:    "template_bytes_limit",
	ErrTemplateEvicted:       "template_evicted",
}

// String returns a short snake_case name, usable as a metric attribute.
func (k ErrorKind) String() string {
	if k < numErrorKinds {
		return errorNames[k]
	}
	return "unknown"
}

// Error implements error.
func (k ErrorKind) Error() string { return "ipfix: " + k.String() }

// ErrorKinds lists every error kind but ErrNone, in order.
func ErrorKinds() []ErrorKind {
	ks := make([]ErrorKind, 0, numErrorKinds-1)
	for k := ErrNone + 1; k < numErrorKinds; k++ {
		ks = append(ks, k)
	}
	return ks
}

// ErrorCounts counts errors by kind.
type ErrorCounts [numErrorKinds]uint64

// Total returns the sum over all kinds.
func (c *ErrorCounts) Total() uint64 {
	var t uint64
	for _, n := range c {
		t += n
	}
	return t
}
