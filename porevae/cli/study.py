"""``porevae study dimension`` (VAE latent size vs KLE terms) and ``porevae study
reconstruction`` (a Fisher VAE on a synthetic medium, judged by its morphology)."""

from __future__ import annotations

from porevae.cli import add_output, add_progress, check_out


def run_study_dimension(args) -> int:
    from porevae.studies import dimension_study, study_markdown

    if args.out:
        check_out(args, folder=True)
    rows = dimension_study(dims=args.dims, covariances=args.covariances, size=args.size,
                           length_scale=args.length_scale, n_train=args.n_train,
                           n_test=args.n_test, n_generate=args.n_generate, steps=args.steps,
                           batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                           out_dir=args.out, progress=args.progress)
    print(study_markdown(rows))
    if args.out:
        print(f"\nwrote study.md, study.json and error_vs_dimension.png to {args.out}")
    return 0


def run_study_reconstruction(args) -> int:
    from porevae.studies import reconstruction_study

    if args.out:
        check_out(args, folder=True)
    res = reconstruction_study(out_dir=args.out, shape=tuple(args.shape),
                               porosity=args.porosity, radius=args.radius, size=args.size,
                               steps=args.steps, n_samples=args.n, kind=args.kind,
                               seed=args.seed, cut=args.cut, progress=args.progress,
                               s2_weight=args.s2_weight)
    print(res["comparison"].markdown())
    print("\ntargets:")
    for t in res["targets"]:
        diff = f"{t['diff']:+.4f}" if t["kind"] == "abs" else f"{t['diff']:+.1%}"
        print(f"  {t['statistic']:<18} {diff:>9}  (target ±{t['tolerance']:g} {t['kind']}) "
              f"{'met' if t['met'] else 'NOT met'}")
    if args.out:
        print(f"\nwrote {len(res['comparison'].files)} files to {args.out}")
    return 0


def register(subparsers) -> None:
    from porevae.covariance import MODELS
    from porevae.studies.dimension import DEFAULT_COVARIANCES
    from porevae.vae.config import KINDS

    p = subparsers.add_parser("study", help="parameterization studies")
    studies = p.add_subparsers(dest="study", required=True, metavar="STUDY")
    q = studies.add_parser("dimension", help="VAE latent size vs KLE terms",
                           description="Train a Gaussian VAE per latent size d on KLE "
                           "log-permeability fields and compare with the KLE truncated to d "
                           "terms: held-out reconstruction error, variance and covariance of "
                           "generated fields. The VAE latent is a spatial map of C x "
                           "(size / f)^2 = d elements.")
    q.add_argument("--dims", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256],
                   help="latent sizes d = KLE terms M (default 8 16 32 64 128 256)")
    hyphen = [name.replace("_", "-") for name in DEFAULT_COVARIANCES]
    q.add_argument("--covariances", nargs="+", choices=[n.replace("_", "-") for n in MODELS],
                   default=hyphen, help=f"covariance models, each with its defaults (default "
                                        f"{' '.join(hyphen)})")
    q.add_argument("--size", type=int, default=32, help="grid cells per axis (default 32)")
    q.add_argument("--length-scale", type=float, default=0.2,
                   help="covariance length scale on the unit square (default 0.2)")
    q.add_argument("--n-train", type=int, default=512, help="training fields (default 512)")
    q.add_argument("--n-test", type=int, default=64, help="held-out fields (default 64)")
    q.add_argument("--n-generate", type=int, default=256,
                   help="generated fields per model (default 256)")
    q.add_argument("--steps", type=int, default=400, help="VAE training steps per model")
    q.add_argument("--batch-size", type=int, default=32, help="training batch (default 32)")
    q.add_argument("--lr", type=float, default=2e-3, help="AdamW learning rate (default 2e-3)")
    q.add_argument("--seed", type=int, default=0, help="seed of fields and training")
    add_output(q, "folder for study.md, study.json and the plot", required=False)
    add_progress(q)
    q.set_defaults(func=run_study_dimension)

    q = studies.add_parser("reconstruction", help="VAE reconstruction of a synthetic 3D medium",
                           description="Train a small VAE on crops of overlapping spheres, "
                           "generate media and compare their statistics with the medium's "
                           "(porosity, Sv, chord lengths, Euler density targets).")
    q.add_argument("--shape", type=int, nargs=3, default=[96, 96, 96],
                   help="medium shape, voxels (default 96 96 96)")
    q.add_argument("--porosity", type=float, default=0.4, help="medium porosity (default 0.4)")
    q.add_argument("--radius", type=float, default=4.0, help="sphere radius in voxels")
    q.add_argument("--size", type=int, default=32, help="training crop size (default 32)")
    q.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    q.add_argument("-n", "--n", type=int, default=16, help="generated samples (default 16)")
    q.add_argument("--kind", choices=KINDS, default="fisher", help="model kind (default fisher)")
    q.add_argument("--seed", type=int, default=0, help="seed of medium and training")
    q.add_argument("--cut", choices=("connected", "data", "mean", "half"), default="connected",
                   help="binary samples from the pore probabilities: connected = the connected "
                        "cut at the medium's porosity, as `porevae generate` cuts (default); "
                        "data = the global threshold at that porosity; mean = each sample keeps "
                        "its mean probability as porosity; half = p >= 1/2")
    q.add_argument("--s2-weight", type=float, default=0.0,
                   help="weight of the S2 descriptor loss on decoded prior samples (default 0 = "
                        "off: at 300 steps it made this medium's samples worse, see the "
                        "shipped Berea model's README)")
    add_output(q, "folder for the report", required=False)
    add_progress(q)
    q.set_defaults(func=run_study_reconstruction)
