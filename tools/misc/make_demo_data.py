"""Write the rotated-digits demo data set (deterministic, offline, seconds).

Example:
    python tools/misc/make_demo_data.py --out data/demo
"""
import argparse
import time

from mmdet_lossplus.datasets import generate_digits_coco


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/demo', help='output dir')
    parser.add_argument('--num-train', type=int, default=3000)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument('--image-size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    start = time.time()
    paths = generate_digits_coco(
        args.out,
        num_train=args.num_train,
        num_val=args.num_val,
        image_size=args.image_size,
        seed=args.seed)
    print(f'wrote {args.num_train} train and {args.num_val} val images to '
          f'{args.out} in {time.time() - start:.1f}s: {paths}')


if __name__ == '__main__':
    main()
