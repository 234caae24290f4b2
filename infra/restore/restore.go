// Package restore finds the snapshot that counter-mysql:restoreFromSnapshot names and
// checks, before the program registers any resource, that a new stack's MySQL volume can
// start from it. The contract:
//
//   - The setting is read when the stack's volume is created, as RDS reads the snapshot
//     of a restored instance: a deployed stack keeps what it was created from. Decide
//     refuses a change either way, and a deployed stack's runs take the source from its
//     outputs instead of looking it up again, so deleting the snapshot after the restore
//     never breaks a later up.
//   - What is restored is a Source: the CSI driver that holds the snapshot and the
//     driver's id for it. Any accepted value comes down to that, and the database
//     registers its own pre-provisioned VolumeSnapshot for it in the stack's namespace.
//   - Every refusal names the setting and says the fix; a value that would not restore
//     (unknown, in another namespace, not ready, bigger than the volume, from another
//     driver, or beside a volume the new claim would bind instead) is refused at preview.
package restore

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ebs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Source is a snapshot a volume can start from.
type Source struct {
	// From is the setting's value, as the user gave it.
	From string
	// Driver is the CSI driver that holds the snapshot.
	Driver string
	// SnapshotHandle is the driver's id of the snapshot (for EBS, snap-…).
	SnapshotHandle string
}

// Request is what a lookup needs to know about the stack.
type Request struct {
	// Setting is the stack setting behind Value (counter-mysql:restoreFromSnapshot),
	// named in every message.
	Setting string
	Value   string
	// Size is the volume the stack asks for, and SizeSetting the setting behind it: a
	// snapshot bigger than the volume cannot be restored into it.
	Size        resource.Quantity
	SizeSetting string
}

// Decide says what the stack's volume starts from: deployed is the Source the deployed
// stack was created from (nil: not deployed; From "": an empty volume), lookup finds
// r.Value for a new stack. It returns nil for an empty volume.
func Decide(r Request, deployed *Source, lookup func() (Source, error)) (*Source, error) {
	if deployed != nil {
		if r.Value != deployed.From {
			return nil, fmt.Errorf("refused before any change: %s %s: this stack's MySQL volume exists already (%s), and the setting is "+
				"only read when the volume is created; set it back (%s), or restore into a new stack (pulumi stack init, "+
				"with the setting there)", r.Setting, describeValue(r.Value), describeOrigin(deployed.From), restoreCommand(r.Setting, deployed.From))
		}
		if deployed.From == "" {
			return nil, nil
		}
		return deployed, nil
	}
	if r.Value == "" {
		return nil, nil
	}
	s, err := lookup()
	if err != nil {
		return nil, err
	}
	s.From = r.Value
	return &s, nil
}

func describeValue(v string) string {
	if v == "" {
		return "unset"
	}
	return fmt.Sprintf("%q", v)
}

func describeOrigin(from string) string {
	if from == "" {
		return "it started empty"
	}
	return "it started from " + from
}

func restoreCommand(setting, from string) string {
	if from == "" {
		return "pulumi config rm " + setting
	}
	return "pulumi config set " + setting + " " + from
}

// bigger refuses a snapshot of size that the requested volume cannot hold.
func bigger(r Request, size resource.Quantity, what string) error {
	if size.IsZero() || size.Cmp(r.Size) <= 0 {
		return nil
	}
	return fmt.Errorf("%s %s is smaller than %s (%s), which cannot be restored into a smaller volume: set %s to %s or more",
		r.SizeSetting, r.Size.String(), what, size.String(), r.SizeSetting, size.String())
}

// ebsCompleted is the state of an EBS snapshot a volume can be created from.
const ebsCompleted = "completed"

// FromEBS looks an EBS snapshot id up in the stack's AWS account and region (a provider
// function, so it runs at preview too); driver is the EBS CSI driver's name.
func FromEBS(ctx *pulumi.Context, r Request, driver string) (Source, error) {
	snap, err := ebs.LookupSnapshot(ctx, &ebs.LookupSnapshotArgs{SnapshotIds: []string{r.Value}})
	if err != nil {
		return Source{}, fmt.Errorf("%s %s: no such EBS snapshot readable in this stack's account and region (aws:region) (%w): "+
			"check the id with aws ec2 describe-snapshots --snapshot-ids %s, or unset the setting for an empty volume",
			r.Setting, r.Value, err, r.Value)
	}
	if snap.State != ebsCompleted {
		return Source{}, fmt.Errorf("%s %s: the EBS snapshot is %s, not %s: wait until it is (aws ec2 wait snapshot-completed --snapshot-ids %s), then run the command again",
			r.Setting, r.Value, snap.State, ebsCompleted, r.Value)
	}
	size := resource.MustParse(fmt.Sprintf("%dGi", snap.VolumeSize))
	if err := bigger(r, size, fmt.Sprintf("the volume EBS snapshot %s was taken of", r.Value)); err != nil {
		return Source{}, err
	}
	return Source{Driver: driver, SnapshotHandle: r.Value}, nil
}
