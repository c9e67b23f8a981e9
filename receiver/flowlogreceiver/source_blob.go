package flowlogreceiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"go.uber.org/zap"
)

// headSize and tailSize are the sizes of the first and last blocks Network Watcher writes:
// `{"records":[` and `]}`.
const (
	headSize = 12
	tailSize = 2
)

// blobSource reads flow log blobs from Azure Blob Storage. It only lists, reads block lists
// and downloads ranges: it never writes to, leases or modifies a source blob.
type blobSource struct {
	cfg       *AzureBlobConfig
	client    *azblob.Client
	transport *http.Transport
	logger    *zap.Logger
	// maxBlock: a data block larger than this is not downloaded (max_record_size; 0: none).
	maxBlock int64
}

// retryCounter counts the answers the SDK's retry policy retries (it runs once per try):
// 429 and 503 as throttled, other transient failures as transient.
type retryCounter struct{ count func(kind string) }

func (p retryCounter) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if p.count == nil {
		return resp, err
	}
	switch {
	case err != nil:
		if req.Raw().Context().Err() == nil {
			p.count(errKindTransient)
		}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		p.count(errKindThrottled)
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusInternalServerError ||
		resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusGatewayTimeout:
		p.count(errKindTransient)
	}
	return resp, err
}

// newBlobSource builds the client; count (may be nil) is told of every retried answer.
func newBlobSource(cfg *AzureBlobConfig, logger *zap.Logger, count func(kind string)) (*blobSource, error) {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	opts := &azblob.ClientOptions{ClientOptions: policy.ClientOptions{
		Transport: &http.Client{Transport: tr},
		// Transient errors, 429 and 503 (whose Retry-After the policy honours) are retried.
		Retry:            policy.RetryOptions{MaxRetries: 5, RetryDelay: time.Second, MaxRetryDelay: 60 * time.Second, TryTimeout: 2 * time.Minute},
		PerRetryPolicies: []policy.Policy{retryCounter{count: count}},
	}}
	s := &blobSource{cfg: cfg, transport: tr, logger: logger}
	var err error
	switch {
	case cfg.ConnectionString != "":
		s.client, err = azblob.NewClientFromConnectionString(string(cfg.ConnectionString), opts)
	case cfg.SASToken != "" || strings.Contains(cfg.AccountURL, "?"):
		u := cfg.AccountURL
		if cfg.SASToken != "" {
			u = strings.TrimRight(u, "/") + "/?" + strings.TrimPrefix(string(cfg.SASToken), "?")
		}
		s.client, err = azblob.NewClientWithNoCredential(u, opts)
	default:
		var cred azcore.TokenCredential
		cred, err = azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: policy.ClientOptions{Transport: &http.Client{Transport: tr}},
		})
		if err == nil {
			s.client, err = azblob.NewClient(cfg.AccountURL, cred, opts)
		}
	}
	if err != nil {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("azure_blob: %w", err)
	}
	return s, nil
}

func (s *blobSource) Close() { s.transport.CloseIdleConnections() }

func (s *blobSource) List(ctx context.Context) ([]object, error) {
	var objs []object
	for _, name := range s.cfg.Containers {
		cc := s.client.ServiceClient().NewContainerClient(name)
		opts := &container.ListBlobsFlatOptions{}
		if s.cfg.Prefix != "" {
			opts.Prefix = &s.cfg.Prefix
		}
		pager := cc.NewListBlobsFlatPager(opts)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				if bloberror.HasCode(err, bloberror.ContainerNotFound) {
					break // not created yet: flow logging has not written there
				}
				return nil, fmt.Errorf("listing container %s: %w", name, err)
			}
			for _, it := range page.Segment.BlobItems {
				if it.Name == nil || it.Properties == nil {
					continue
				}
				tail, ok := parseTail(*it.Name)
				if !ok {
					continue
				}
				o := object{Key: name + "/" + *it.Name, Tail: tail}
				if it.Properties.ETag != nil {
					o.ETag = string(*it.Properties.ETag)
				}
				if it.Properties.ContentLength != nil {
					o.Size = *it.Properties.ContentLength
				}
				objs = append(objs, o)
			}
		}
	}
	sortObjects(objs)
	return objs, nil
}

func (s *blobSource) blockBlob(key string) *blockblob.Client {
	containerName, name, _ := strings.Cut(key, "/")
	return s.client.ServiceClient().NewContainerClient(containerName).NewBlockBlobClient(name)
}

// layout is a blob's committed block list, reduced to what reading needs.
type layout struct {
	etag string
	ids  []string
	ends []int64 // end offset of each block
	// dataEnd is where the data blocks end: before the 2-byte tail block when there is one.
	dataEnd int64
	size    int64
}

func (s *blobSource) layout(ctx context.Context, bb *blockblob.Client) (layout, error) {
	resp, err := bb.GetBlockList(ctx, blockblob.BlockListTypeCommitted, nil)
	if err != nil {
		return layout{}, mapNotFound(err)
	}
	var l layout
	if resp.ETag != nil {
		l.etag = string(*resp.ETag)
	}
	var off int64
	for _, b := range resp.CommittedBlocks {
		if b == nil || b.Name == nil || b.Size == nil {
			continue
		}
		off += *b.Size
		l.ids = append(l.ids, *b.Name)
		l.ends = append(l.ends, off)
	}
	l.size = off
	l.dataEnd = off
	if n := len(l.ends); n >= 2 && l.ends[n-1]-l.ends[n-2] == tailSize {
		l.dataEnd = l.ends[n-2]
	}
	if len(l.ids) == 0 && resp.BlobContentLength != nil {
		// Written in one Put Blob: no blocks to go by.
		l.size = *resp.BlobContentLength
		l.dataEnd = l.size
	}
	return l, nil
}

func mapNotFound(err error) error {
	if bloberror.HasCode(err, bloberror.BlobNotFound, bloberror.ContainerNotFound) {
		return errNotFound
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
		return errNotFound
	}
	return err
}

// resume finds where the checkpoint leaves off in the block list: the end of the block it
// names. ok is false when the block list no longer holds that block at that offset.
func (l *layout) resume(cp checkpoint) (start int64, first int, ok bool) {
	if cp.Offset == 0 {
		return 0, 0, true
	}
	if len(l.ids) == 0 {
		return cp.Offset, 0, cp.Offset <= l.size
	}
	for i, end := range l.ends {
		if end == cp.Offset && (cp.BlockID == "" || l.ids[i] == cp.BlockID) {
			return end, i + 1, true
		}
	}
	if cp.BlockID != "" {
		for i, id := range l.ids {
			if id == cp.BlockID {
				return l.ends[i], i + 1, true
			}
		}
	}
	return 0, 0, false
}

func (s *blobSource) Read(ctx context.Context, obj object, cp checkpoint, limit int64) (chunk, error) {
	bb := s.blockBlob(obj.Key)
	l, err := s.layout(ctx, bb)
	if err != nil {
		return chunk{}, err
	}
	var ch chunk
	start, first, ok := l.resume(cp)
	if !ok {
		ch.Reset = fmt.Sprintf("block %q at offset %d is not in the committed block list any more", cp.BlockID, cp.Offset)
		start, first = 0, 0
	}
	ch.Offset, ch.ETag, ch.Complete = start, l.etag, true
	end := l.dataEnd
	if len(l.ids) > 0 {
		// Whole blocks only, at least one, up to max bytes.
		last := -1
		for i := first; i < len(l.ends) && l.ends[i] <= l.dataEnd; i++ {
			if last >= 0 && l.ends[i]-start > limit {
				break
			}
			last = i
		}
		if last < 0 {
			ch.AtEnd = true
			return ch, nil
		}
		if s.maxBlock > 0 && l.ends[first]-start > s.maxBlock {
			ch.Oversized, ch.SkipEnd, ch.EndBlockID = true, l.ends[first], l.ids[first]
			ch.AtEnd = l.ends[first] == l.dataEnd
			return ch, nil
		}
		end = l.ends[last]
		ch.EndBlockID = l.ids[last]
	} else if end-start > limit {
		end = start + limit
		ch.Complete = false
	}
	ch.AtEnd = end == l.dataEnd
	if end <= start {
		return ch, nil
	}
	// Read the range of the version whose block list was read: if the blob changes in
	// between, the service answers 412 and the next poll starts over.
	etag := azcore.ETag(l.etag)
	resp, err := bb.DownloadStream(ctx, &blob.DownloadStreamOptions{
		Range:            blob.HTTPRange{Offset: start, Count: end - start},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &etag}},
	})
	if err != nil {
		return chunk{}, mapNotFound(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, end-start)
	n, err := io.ReadFull(resp.Body, buf)
	ch.Downloaded = int64(n)
	if err != nil {
		return chunk{}, fmt.Errorf("downloading %d bytes at %d: %w", end-start, start, err)
	}
	ch.Data = buf
	if len(l.ids) == 0 && ch.AtEnd {
		// No block boundaries: the data may hold the tail, and is complete only if it does.
		// Leave the tail out of the checkpoint, as for blocks.
		trimmed := bytes.TrimRight(buf, " \t\r\n")
		ch.Complete = bytes.HasSuffix(trimmed, tailBytes)
		if ch.Complete {
			ch.Data = trimmed[:len(trimmed)-len(tailBytes)]
		}
	}
	return ch, nil
}

// End returns a checkpoint after the data blocks the blob holds now.
func (s *blobSource) End(ctx context.Context, obj object) (checkpoint, bool, error) {
	l, err := s.layout(ctx, s.blockBlob(obj.Key))
	if err != nil {
		return checkpoint{}, false, err
	}
	if len(l.ids) == 0 {
		return checkpoint{}, false, nil
	}
	cp := checkpoint{Offset: l.dataEnd, ETag: l.etag, AtEnd: true}
	for i, e := range l.ends {
		if e == l.dataEnd {
			cp.BlockID = l.ids[i]
		}
	}
	return cp, true, nil
}
