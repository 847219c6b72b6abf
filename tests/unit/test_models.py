import pytest
import torch

from raysearch.models import build_model, default_model, model_names


def _count(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", model_names())
@pytest.mark.parametrize(("channels", "size"), [(1, 28), (3, 32)])
def test_every_model_maps_images_to_class_logits(name, channels, size):
    model = build_model(name, in_channels=channels, num_classes=7, image_size=size)
    assert model(torch.rand(2, channels, size, size)).shape == (2, 7)


def test_parameter_counts_match_the_papers_layer_tables():
    # MLP 784-256-10 (S2E Table 5)
    assert (
        _count(build_model("mlp", in_channels=1, num_classes=10, image_size=28))
        == 784 * 256 + 256 + 256 * 10 + 10
    )
    # LeNet on 32x32x3: conv 3->6 k5, conv 6->16 k5, FC 400-120-84-10
    lenet = (
        (3 * 6 * 25 + 6) + (6 * 16 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    )
    assert _count(build_model("lenet", in_channels=3, num_classes=10, image_size=32)) == lenet
    # Co-teaching's CNN: conv weights+bias, BN (2 per channel), final FC
    convs = [
        (3, 128),
        (128, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 256),
        (256, 512),
        (512, 256),
        (256, 128),
    ]
    cnn9 = sum(cin * cout * 9 + cout + 2 * cout for cin, cout in convs) + 128 * 10 + 10
    assert _count(build_model("cnn9", in_channels=3, num_classes=10, image_size=32)) == cnn9


def test_unknown_model_lists_names_and_defaults_follow_the_s2e_code():
    with pytest.raises(KeyError, match="registered models"):
        build_model("vgg", in_channels=1, num_classes=10, image_size=28)
    assert (default_model("mnist"), default_model("cifar10"), default_model("cifar100")) == (
        "mlp",
        "lenet",
        "cnn-large",
    )
