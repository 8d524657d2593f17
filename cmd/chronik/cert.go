package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chronik-dev/chronik/internal/certs"
)

// defaultCertsDir is where `chronik cert` writes unless told otherwise.
const defaultCertsDir = "certs"

// NewCmdCert builds the `chronik cert` command group.
func NewCmdCert(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert <command>",
		Short: "Create the certificates of a TLS cluster",
		Long: `Create a CA, node certificates for mutual TLS between nodes (the cluster
listener), and client certificates, with nothing but this binary.

Keys are ECDSA P-256 with mode 0600, certificates PEM with mode 0644, in
--certs-dir (created 0700). Existing files are never replaced without
--overwrite. A node certificate's identity is its URI SAN chronik://node/<id>:
the cluster accepts it as that node only. docs/security.md has the details.`,
		Example: `  # a CA and the certificates of a three-node cluster on one machine
  chronik cert create-ca --certs-dir certs
  for i in 1 2 3; do chronik cert create-node --certs-dir certs --node-id $i --host localhost,127.0.0.1; done
  chronik serve --node-id 1 --cluster-tls-cert-file certs/node.1.crt \
    --cluster-tls-key-file certs/node.1.key --cluster-tls-ca-file certs/ca.crt ...`,
		Args: usageArgs(unknownCommand),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
		SuggestionsMinimumDistance: 2,
	}
	cmd.AddCommand(NewCmdCertCreateCA(f, nil), NewCmdCertCreateNode(f, nil), NewCmdCertCreateClient(f, nil))
	return cmd
}

// CertOptions are the inputs every `chronik cert` command shares, plus each
// command's own.
type CertOptions struct {
	IO        IOStreams
	Dir       string
	Overwrite bool
	Lifetime  time.Duration
	CACert    string // signing CA certificate (create-node, create-client)
	CAKey     string // signing CA key
	ClientCA  bool   // create-ca: a separate CA for client certificates
	NodeID    uint64 // create-node
	Hosts     []string
	Name      string // create-client
}

func (o *CertOptions) certs() certs.Options {
	return certs.Options{Dir: o.Dir, Overwrite: o.Overwrite, Lifetime: o.Lifetime, CACert: o.CACert, CAKey: o.CAKey}
}

func addCertFlags(cmd *cobra.Command, opts *CertOptions, lifetime time.Duration, signs bool) {
	cmd.Flags().StringVar(&opts.Dir, "certs-dir", defaultCertsDir, "directory the files are written to")
	cmd.Flags().BoolVar(&opts.Overwrite, "overwrite", false, "replace existing files")
	cmd.Flags().DurationVar(&opts.Lifetime, "lifetime", lifetime, "how long the certificate is valid")
	if signs {
		cmd.Flags().StringVar(&opts.CACert, "ca-cert", "", "CA certificate that signs (default: in --certs-dir)")
		cmd.Flags().StringVar(&opts.CAKey, "ca-key", "", "key of --ca-cert (default: in --certs-dir)")
	}
}

func checkLifetime(opts *CertOptions) error {
	if opts.Lifetime <= 0 {
		return &usageError{fmt.Errorf("--lifetime: must be positive, got %v", opts.Lifetime)}
	}
	return nil
}

// printWritten lists the files a command wrote.
func printWritten(opts *CertOptions, paths []string) {
	for _, p := range paths {
		fmt.Fprintln(opts.IO.Out, "wrote", p)
	}
}

// NewCmdCertCreateCA builds `chronik cert create-ca`. runF, if not nil,
// replaces the run function (tests inspect the parsed options).
func NewCmdCertCreateCA(f *Factory, runF func(*CertOptions) error) *cobra.Command {
	opts := &CertOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "create-ca",
		Short: "Create the cluster CA",
		Long: `Create a CA certificate and key: ca.crt and ca.key in --certs-dir, or with
--client ca-client.crt and ca-client.key, a separate CA for client
certificates. Keep the key safe: whoever has it can make node certificates.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLifetime(opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			paths, err := certs.CreateCA(opts.certs(), opts.ClientCA)
			if err != nil {
				return err
			}
			printWritten(opts, paths)
			return nil
		},
	}
	addCertFlags(cmd, opts, certs.DefaultCALifetime, false)
	cmd.Flags().BoolVar(&opts.ClientCA, "client", false, "create the client CA (ca-client.crt) instead")
	return cmd
}

// NewCmdCertCreateNode builds `chronik cert create-node`.
func NewCmdCertCreateNode(f *Factory, runF func(*CertOptions) error) *cobra.Command {
	opts := &CertOptions{IO: f.IO}
	var nodeID int64
	cmd := &cobra.Command{
		Use:   "create-node",
		Short: "Create a node's certificate for the cluster listener",
		Long: `Create node.<id>.crt and node.<id>.key in --certs-dir, signed by the CA,
for mutual TLS between nodes. The certificate names node <id>
(chronik://node/<id>): other nodes accept it as that node only. --host lists
the host names and IP addresses the node is reached at; they go into the
certificate for tools that check them.`,
		Example: `  chronik cert create-node --node-id 2 --host node2.example.com,10.0.0.2`,
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkLifetime(opts); err != nil {
				return err
			}
			if nodeID < 1 {
				return &usageError{fmt.Errorf("--node-id: must be >= 1, got %d", nodeID)}
			}
			opts.NodeID = uint64(nodeID)
			var hosts []string
			for _, h := range opts.Hosts {
				if h = strings.TrimSpace(h); h != "" {
					hosts = append(hosts, h)
				}
			}
			if len(hosts) == 0 {
				return &usageError{fmt.Errorf("--host: at least one host name or IP address is required")}
			}
			opts.Hosts = hosts
			if runF != nil {
				return runF(opts)
			}
			paths, err := certs.CreateNode(opts.certs(), opts.NodeID, opts.Hosts)
			if err != nil {
				return err
			}
			printWritten(opts, paths)
			return nil
		},
	}
	addCertFlags(cmd, opts, certs.DefaultCertLifetime, true)
	cmd.Flags().Int64Var(&nodeID, "node-id", 0, "the node's id, its serve --node-id (required)")
	cmd.Flags().StringSliceVar(&opts.Hosts, "host", nil, "host names and IP addresses of the node, comma-separated")
	_ = cmd.RegisterFlagCompletionFunc("node-id", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("host", cobra.NoFileCompletions)
	return cmd
}

// NewCmdCertCreateClient builds `chronik cert create-client`.
func NewCmdCertCreateClient(f *Factory, runF func(*CertOptions) error) *cobra.Command {
	opts := &CertOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "create-client NAME",
		Short: "Create a client certificate",
		Long: `Create client.NAME.crt and client.NAME.key in --certs-dir for a Kafka or
admin client, signed by the client CA (ca-client.crt) when --certs-dir has
one, else by the CA. NAME is the certificate's common name. A client
certificate is never accepted on the cluster listener.`,
		Example: `  chronik cert create-client alice`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLifetime(opts); err != nil {
				return err
			}
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			paths, err := certs.CreateClient(opts.certs(), opts.Name)
			if err != nil {
				return err
			}
			printWritten(opts, paths)
			return nil
		},
	}
	addCertFlags(cmd, opts, certs.DefaultCertLifetime, true)
	return cmd
}
