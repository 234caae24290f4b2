// Package image gives the counter Deployment its container image: the reference the stack
// configures, used as given, or else an image built from this repository's app/ for the
// node group's architecture, pushed to an ECR repository this component creates, and
// referenced by digest so that only a change to the image's inputs rolls the pods.
package image

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ConfigKeyImage is the config key that skips the build; errors name it as the way out.
const ConfigKeyImage = "counter-mysql:appImage"

const (
	// dockerfile is the Dockerfile's path relative to the repository root.
	dockerfile = "app/Dockerfile"
	// keepImages is how many images the repository's lifecycle rule keeps.
	keepImages = 10
)

// contextPaths are the paths under the repository root that the image build reads; the
// build inputs hash covers them, and the .dockerignore must admit nothing else.
var contextPaths = []string{"app", "go.mod", "go.sum"}

// Args says where the image comes from. Config values in it were validated by package
// config.
type Args struct {
	// Configured is the image reference from config. When set it is used as is: no
	// repository, no build, and the other fields are ignored.
	Configured string
	// RepoRoot is the build context: the repository root (go.mod is there), relative to the
	// directory Pulumi runs the program and its providers in: ".." here, as Pulumi.yaml says
	// main: infra/. It must be relative because the Docker provider stores it, and an
	// absolute path would differ between checkouts and force a rebuild.
	RepoRoot string
	// InstanceType is the node group's EC2 instance type; it picks the image's platform.
	InstanceType string
}

// Image is the component; Ref is what the Deployment runs.
type Image struct {
	pulumi.ResourceState

	// Ref is the configured reference, or the pushed image as repository@sha256:digest.
	Ref pulumi.StringOutput
	// RepositoryURL is the ECR repository's URL; nil when the image is configured.
	RepositoryURL pulumi.StringPtrOutput
}

// New resolves the image. Args are checked, and the build inputs hashed, before anything is
// registered, so a bad configuration registers nothing.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Image, error) {
	var inputs, platform string
	if args.Configured == "" {
		if err := args.checkSource(); err != nil {
			return nil, err
		}
		platform = Platform(args.InstanceType)
		var err error
		if inputs, err = buildInputs(args, platform); err != nil {
			return nil, err
		}
	}

	img := &Image{}
	if err := ctx.RegisterComponentResource("counter-mysql:image:Image", name, img, opts...); err != nil {
		return nil, err
	}
	if args.Configured != "" {
		img.Ref = pulumi.String(args.Configured).ToStringOutput()
		img.RepositoryURL = pulumi.ToOutput((*string)(nil)).(pulumi.StringPtrOutput)
	} else if err := img.buildAndPush(ctx, name, args, platform, inputs); err != nil {
		return nil, err
	}
	return img, ctx.RegisterResourceOutputs(img, pulumi.Map{
		"ref":           img.Ref,
		"repositoryUrl": img.RepositoryURL,
	})
}

// checkSource checks what building from source needs: a relative repository root (the
// Docker provider stores it) holding the Dockerfile.
func (a Args) checkSource() error {
	if a.RepoRoot == "" || filepath.IsAbs(a.RepoRoot) {
		return fmt.Errorf("image: RepoRoot %q must be the repository root as a relative path "+
			"(to build from source; or set %s)", a.RepoRoot, ConfigKeyImage)
	}
	if _, err := os.Stat(filepath.Join(a.RepoRoot, dockerfile)); err != nil {
		return fmt.Errorf("image: building from source needs the Dockerfile (or set %s): %w", ConfigKeyImage, err)
	}
	return nil
}

// buildInputs hashes everything that goes into the image: the platform, the Dockerfile's
// path and the files of the build context.
func buildInputs(args Args, platform string) (string, error) {
	ignores, err := ignoreFiles(args.RepoRoot, dockerfile)
	if err != nil {
		return "", err
	}
	content, err := ContentTag(args.RepoRoot, append(ignores, contextPaths...)...)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(platform + "\x00" + dockerfile + "\x00" + content))
	return fmt.Sprintf("%x", sum), nil
}

// buildAndPush creates the repository, builds the image from source and pushes it under the
// tag <arch>-<inputs, shortened>-<random suffix>.
func (img *Image) buildAndPush(ctx *pulumi.Context, name string, args Args, platform, inputs string) error {
	repo, err := ecr.NewRepository(ctx, name, &ecr.RepositoryArgs{
		ImageScanningConfiguration: ecr.RepositoryImageScanningConfigurationArgs{ScanOnPush: pulumi.Bool(true)},
		// A tag always names the same image; each build gets a tag of its own (see suffix).
		ImageTagMutability: pulumi.String("IMMUTABLE"),
		// pulumi destroy removes the repository with the images in it.
		ForceDelete: pulumi.Bool(true),
	}, pulumi.Parent(img))
	if err != nil {
		return err
	}
	policy, err := lifecyclePolicy(keepImages)
	if err != nil {
		return err
	}
	if _, err := ecr.NewLifecyclePolicy(ctx, name, &ecr.LifecyclePolicyArgs{
		Repository: repo.Name,
		Policy:     pulumi.String(policy),
	}, pulumi.Parent(img)); err != nil {
		return err
	}

	// The provider builds and pushes whenever the build context changes (the .dockerignore
	// holds the context to what inputs covers), so the tag changes whenever inputs does. The
	// random suffix is new on every such change, even back to earlier inputs: rolling back to
	// an older commit must not push a rebuilt image under a tag the repository still holds.
	suffix, err := random.NewRandomId(ctx, name, &random.RandomIdArgs{
		ByteLength: pulumi.Int(4),
		Keepers:    pulumi.StringMap{"buildInputs": pulumi.String(inputs)},
	}, pulumi.Parent(img))
	if err != nil {
		return err
	}
	_, arch, _ := strings.Cut(platform, "/")

	token := ecr.GetAuthorizationTokenOutput(ctx, ecr.GetAuthorizationTokenOutputArgs{
		RegistryId: repo.RegistryId,
	}, pulumi.Parent(img))
	built, err := docker.NewImage(ctx, name, &docker.ImageArgs{
		Build: docker.DockerBuildArgs{
			Context: pulumi.String(args.RepoRoot),
			// The provider resolves the Dockerfile against its working directory, not the context.
			Dockerfile:     pulumi.String(filepath.Join(args.RepoRoot, dockerfile)),
			Platform:       pulumi.String(platform),
			BuilderVersion: docker.BuilderVersionBuilderBuildKit,
		},
		// Preview does not build; it shows the digest as unknown when the build inputs change.
		// The provider still pings the Docker daemon when configured, so preview needs one too.
		BuildOnPreview: pulumi.Bool(false),
		ImageName:      pulumi.Sprintf("%s:%s-%.16s-%s", repo.RepositoryUrl, arch, inputs, suffix.Hex),
		Registry: docker.RegistryArgs{
			Server:   repo.RepositoryUrl,
			Username: token.UserName(),
			Password: pulumi.ToSecret(token.Password()).(pulumi.StringOutput),
		},
	}, pulumi.Parent(img))
	if err != nil {
		return err
	}
	img.Ref = built.RepoDigest
	img.RepositoryURL = repo.RepositoryUrl.ToStringPtrOutput()
	return nil
}

// lifecyclePolicy is the ECR lifecycle policy that expires all but the newest keep images.
func lifecyclePolicy(keep int) (string, error) {
	type selection struct {
		TagStatus   string `json:"tagStatus"`
		CountType   string `json:"countType"`
		CountNumber int    `json:"countNumber"`
	}
	type action struct {
		Type string `json:"type"`
	}
	type rule struct {
		RulePriority int       `json:"rulePriority"`
		Description  string    `json:"description"`
		Selection    selection `json:"selection"`
		Action       action    `json:"action"`
	}
	policy, err := json.Marshal(struct {
		Rules []rule `json:"rules"`
	}{[]rule{{
		RulePriority: 1,
		Description:  fmt.Sprintf("keep the last %d images", keep),
		Selection:    selection{TagStatus: "any", CountType: "imageCountMoreThan", CountNumber: keep},
		Action:       action{Type: "expire"},
	}}})
	return string(policy), err
}
