"""UnlabeledVideoDataset and unlabeled_loader: a list of files, no label."""
import pytest
from mmaction.registry import DATASETS
from mmengine.registry import init_default_scope

import mmffn  # noqa: F401
from mmffn.apis import unlabeled_loader


def build(tmp_path, text, **kwargs):
    listing = tmp_path / 'videos.txt'
    listing.write_text(text)
    init_default_scope('mmaction')
    return DATASETS.build(
        dict(
            type='UnlabeledVideoDataset',
            ann_file=str(listing),
            data_prefix=dict(video='/data'),
            pipeline=[],
            **kwargs))


def test_a_list_of_files_gives_samples_without_labels(tmp_path):
    dataset = build(tmp_path, 'a.mp4\nsub/b.mp4\n\n')
    assert len(dataset) == 2
    assert dataset[1]['filename'] == '/data/sub/b.mp4'
    assert all('label' not in dataset[i] for i in range(2))


def test_the_labels_of_an_mmaction2_list_are_not_read(tmp_path):
    dataset = build(tmp_path, 'a.mp4 3\nb.mp4 1\n')
    assert [dataset[i]['filename']
            for i in range(2)] == ['/data/a.mp4', '/data/b.mp4']
    assert all('label' not in dataset[i] for i in range(2))


def test_an_empty_list_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r'videos\.txt names no video'):
        build(tmp_path, '\n \n')


def test_multi_class_is_refused(tmp_path):
    with pytest.raises(ValueError, match='reads no labels'):
        build(tmp_path, 'a.mp4\n', multi_class=True, num_classes=3)


def test_unlabeled_loader_drops_the_flip_label_map_only():
    pipeline = [
        dict(type='DecordInit'),
        dict(type='Flip', flip_ratio=0.5, flip_label_map={86: 87}),
        dict(type='PackActionInputs')
    ]
    loader = dict(
        batch_size=2,
        dataset=dict(
            type='VideoDataset', ann_file='train.txt', pipeline=pipeline))
    converted = unlabeled_loader(loader, 'videos.txt')
    assert converted['dataset'] == dict(
        type='UnlabeledVideoDataset',
        ann_file='videos.txt',
        pipeline=[pipeline[0],
                  dict(type='Flip', flip_ratio=0.5), pipeline[2]])
    assert loader['dataset']['pipeline'][1]['flip_label_map'] == {86: 87}
    with pytest.raises(ValueError, match="got dataset type='RawframeDataset'"):
        unlabeled_loader(
            dict(dataset=dict(type='RawframeDataset', pipeline=[])), 'x.txt')
