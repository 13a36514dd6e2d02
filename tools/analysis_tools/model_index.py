"""Write the model-zoo metadata in mmdet's convention from the results file.

One ``configs/<folder>/metafile.yml`` per config folder (the paper as the
collection, every config as a model, the demo metrics recorded in
``results/demo_runs.jsonl`` with the command that made them) and
``model-index.yml`` at the root importing them. The metrics are the mean
over the recorded seeds of one-process runs, so the files change only
through this command (a test regenerates them and compares).

Usage:
    python tools/analysis_tools/model_index.py          # write the files
    python tools/analysis_tools/model_index.py --check  # compare only
"""
import argparse
import glob
import os.path as osp
import statistics

import yaml

from mmdet_lossplus_tools.results.paths import ROOT
from mmdet_lossplus_tools.results.store import RESULTS, load_runs

# folder -> (collection, paper title, URL); a config whose name contains a
# key of SUB_COLLECTIONS belongs to that collection instead
PAPERS = {
    'alrp': ('aLRP Loss', 'A Ranking-based, Balanced Loss Function Unifying '
             'Classification and Localisation in Object Detection',
             'https://arxiv.org/abs/2009.13592'),
    'ap_loss': ('AP-Loss', 'Towards Accurate One-Stage Object Detection '
                'with AP-Loss', 'https://arxiv.org/abs/1904.06373'),
    'atss': ('ATSS', 'Bridging the Gap Between Anchor-based and Anchor-free '
             'Detection via Adaptive Training Sample Selection',
             'https://arxiv.org/abs/1912.02424'),
    'fcos': ('FCOS', 'FCOS: Fully Convolutional One-Stage Object Detection',
             'https://arxiv.org/abs/1904.01355'),
    'ghm': ('GHM', 'Gradient Harmonized Single-stage Detector',
            'https://arxiv.org/abs/1811.05181'),
    'iou': ('DIoU and CIoU', 'Distance-IoU Loss: Faster and Better Learning '
            'for Bounding Box Regression', 'https://arxiv.org/abs/1911.08287'),
    'multibin': ('Multi-bin', '3D Bounding Box Estimation Using Deep Learning '
                 'and Geometry', 'https://arxiv.org/abs/1612.00496'),
    'retinanet': ('RetinaNet', 'Focal Loss for Dense Object Detection',
                  'https://arxiv.org/abs/1708.02002'),
}
SUB_COLLECTIONS = {
    'ranksort':
    ('Rank & Sort Loss', 'Rank & Sort Loss for Object Detection '
     'and Instance Segmentation', 'https://arxiv.org/abs/2107.11669'),
}
COMMAND = ('python tools/analysis_tools/demo_results.py {config} --seeds '
           '{seeds}')


def collection_of(folder: str, name: str) -> tuple:
    for key, paper in SUB_COLLECTIONS.items():
        if key in name:
            return paper
    return PAPERS[folder]


def demo_metrics(runs: list, config: str) -> dict:
    """Mean over the recorded one-process seeds (3 decimals), or {}."""
    rows = [
        r for r in runs
        if r['config'] == config and r['gpus'] == 1 and not r.get('options')
    ]
    if not rows:
        return {}
    seeds = sorted(r['seed'] for r in rows)

    def mean(key):
        return round(statistics.mean(r[key] for r in rows), 3)

    return {
        'bbox_mAP': mean('bbox_mAP'),
        'bbox_mAP_50': mean('bbox_mAP_50'),
        'bbox_mAP_75': mean('bbox_mAP_75'),
        'Seeds': seeds
    }


def metafile(folder: str, runs: list) -> dict:
    configs = sorted(glob.glob(osp.join(ROOT, 'configs', folder, '*.py')))
    collections, models = {}, []
    for path in configs:
        config = osp.relpath(path, ROOT)
        name = osp.splitext(osp.basename(path))[0]
        coll, title, url = collection_of(folder, name)
        collections[coll] = {
            'Name': coll,
            'Paper': {
                'Title': title,
                'URL': url
            },
            'README': f'configs/{folder}/README.md'
        }
        demo = name.endswith('_demo')
        model = {
            'Name': name,
            'In Collection': coll,
            'Config': config,
            'Metadata': {
                # the 3x schedule of a demo config trains on the demo too
                'Training Data':
                'digits demo' if demo or name.endswith('_3x') else 'COCO'
            },
        }
        metrics = demo_metrics(runs, config) if demo else {}
        if metrics:
            seeds = metrics.pop('Seeds')
            model['Results'] = [{
                'Task':
                'Object Detection',
                'Dataset':
                'digits demo (200 val images)',
                'Metrics':
                metrics,
                'Seeds':
                seeds,
                'Command':
                COMMAND.format(seeds=' '.join(map(str, seeds)), config=config)
            }]
        models.append(model)
    return {'Collections': list(collections.values()), 'Models': models}


def render(results: str = RESULTS) -> dict:
    """``{path: text}`` of every metafile and of model-index.yml."""
    runs = load_runs(results)
    files, imports = {}, []
    for folder in sorted(PAPERS):
        path = f'configs/{folder}/metafile.yml'
        files[path] = yaml.safe_dump(
            metafile(folder, runs), sort_keys=False, width=79)
        imports.append(path)
    files['model-index.yml'] = yaml.safe_dump({'Import': imports},
                                              sort_keys=False)
    return files


def main(argv=None) -> list:
    """Write (or with ``--check`` compare) the files; the stale ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--results', default=RESULTS)
    parser.add_argument(
        '--check',
        action='store_true',
        help='exit 1 when a file differs from what would be written')
    args = parser.parse_args(argv)
    stale = []
    for path, text in render(args.results).items():
        full = osp.join(ROOT, path)
        old = open(full).read() if osp.exists(full) else None
        if old == text:
            continue
        stale.append(path)
        if not args.check:
            with open(full, 'w') as f:
                f.write(text)
    if args.check and stale:
        raise SystemExit('out of date (run tools/analysis_tools/'
                         f'model_index.py): {", ".join(stale)}')
    print(('stale: ' if args.check else 'written: ') +
          (', '.join(stale) or 'nothing'))
    return stale


if __name__ == '__main__':
    main()
