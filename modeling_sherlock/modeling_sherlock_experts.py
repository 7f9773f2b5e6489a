# Copyright 2026 The Sherlock authors. Licensed under the Apache License, Version 2.0.
"""The spatial experts and the expert gate of Sherlock's Global-local Spatial-enhanced MoE (GSM).

Every local expert reads the video tokens `T_v` of one video, shaped `(batch, frames, tokens_per_frame, hidden)`,
and returns a tensor of exactly that shape. The nodes are the expert's own evidence of the same frame (pose keypoints,
objects and relations, background patches); the video tokens are the queries. With `config.expert_output="paper"`
(default) an expert returns the attention read-out alone, `S_i = W_up softmax(Q_v K_i) V_i` (the paper's
`T'_a = softmax(Q_v K_a) V_a`, projected back to the LLM width); with `"residual"` it returns `T_v + W_up (...)`.

Where this code departs from the paper's equations, and why:

- **Expert width.** Experts work in their own width `config.expert_hidden_size` (`W_down` before, `W_up` after the
  cross-attention), so the GSM stays a small fraction of a 7B LLM's compute; the paper does not state a width.
- **Null node.** Each frame's keys start with a learned null node that every token may attend to, so a frame without
  evidence (no person, no object) attends to it alone instead of to padding; padding persons / objects / relations
  are masked out and never attended. The paper does not say what an empty frame attends to.
- **Residual form** (`expert_output="residual"`, not in the paper): `T_v + read-out` keeps every token's identity so
  that a freshly initialised GSM stays close to Video-LLaVA's features; with it the "w/o GE" ablation still carries a
  full copy of `T_v`, which is why the paper's read-out-only form is the default.
- **Eq. 1 (skeleton graph attention).** `h'_k = ReLU(W [ĥ_k, h_k])` as printed; `ĥ_k` is computed with separate
  query, key and value projections (the paper writes a single attention over neighbours without naming them), and
  the key projection has no bias (a key bias adds the same score to every neighbour of a query: no effect under the
  softmax, only a dead parameter).
- **Eq. 2 (GCN).** `H' = ReLU(D_in^-1/2 Ã D_out^-1/2 H W + b)`: the linear map carries a bias (the paper's `H W`
  has none), and since the relation graph is *directed* (subject → relation → object) the symmetric `D^-1/2` is
  taken as in-degree on the left and out-degree on the right, which equals the paper's form on undirected graphs.
  A relation node's features are its predicate and the (subject box, object box) pair in that order.
- **Cross-attention** is multi-head (`config.expert_num_heads`) with the usual `1/sqrt(head_dim)` scaling and learned
  query / key / value / output projections, with biases on queries, values and output (not on keys, see above); the
  paper writes a single `softmax(Q_v K) V` without projections or scaling.
- **Node features.** A keypoint node is a projection of its `(x, y, score)` *relative to its person* (centred on the
  score-weighted mean of the person's keypoints, divided by the person's larger extent) plus a projection of where
  that person is `(centre x, centre y, extent)` plus a learned embedding of its joint (which of the 17 COCO
  keypoints it is) plus, with `config.action_pose_embedding` (default), an embedding of its person's whole skeleton (a
  two-layer MLP of the 17 relative keypoints); an object node is its class embedding plus a projection of its box.
  The paper does not say how nodes are embedded. Normalising each skeleton is the usual practice of skeleton action
  recognition, and it matters here: a person is about a third of the frame high, so in frame coordinates a punch or a
  fall moves the joints by a few hundredths and the pose shape drowns in the position (README, "Does it learn?"). The
  skeleton embedding matters too: the cross-attention reads out a weighted mean of every node of every person, and a
  node after two graph layers knows only its two-hop neighbourhood, so without it the pose as a whole is averaged
  away (issue 21, `benchmarks/expert_alone.py` on oracle poses: without it the held-out Fighting recall stayed 0 for
  7 epochs, then swung between 0 and 1.0; with it, 1.0 with no false positive from epoch 6 on).
- **Gate (Eq. 5-6)** follows the paper: `g = softmax(W_g Σ_i S_i)` per token, `O = LayerNorm(Σ_i g_i S_i)`; the
  softmax runs in float32. `config.gate_norm="experts"` (not in the paper) normalises each expert before the gate
  instead, `O = Σ_i g_i LayerNorm_i(S_i)`.

This file ships to the Hub as remote code: it may import only the standard library, torch, numpy, transformers and
single-dot siblings.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel

from .configuration_sherlock import COCO_SKELETON, SherlockConfig


def patch_centers(tokens_per_frame: int, device: torch.device) -> tuple[torch.Tensor, bool]:
    """Normalised (x, y) centres of the patch tokens of one frame, and whether the first token is a CLS token.

    Video-LLaVA keeps all tokens of the video tower, so a frame has either `1 + side**2` tokens (CLS first, then the
    patch grid in raster order) or `side**2` tokens.

    Returns:
        `(centers, has_cls)`: `centers` of shape `(side**2, 2)` with values in (0, 1).
    """
    side = math.isqrt(tokens_per_frame - 1) if tokens_per_frame >= 1 else 0
    if side * side == tokens_per_frame - 1:
        has_cls = True
    else:
        side = math.isqrt(tokens_per_frame)
        if side * side != tokens_per_frame:
            raise ValueError(
                f"Cannot place {tokens_per_frame} video tokens per frame on a square patch grid (expected side**2 or "
                "1 + side**2 tokens); the object-relation expert needs the patch geometry."
            )
        has_cls = False
    coords = (torch.arange(side, device=device, dtype=torch.float32) + 0.5) / max(side, 1)
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=-1), has_cls


def skeleton_adjacency(num_keypoints: int, device: torch.device) -> torch.Tensor:
    """Boolean `(num_keypoints, num_keypoints)` adjacency of the COCO skeleton with self-loops (built per call: a
    constant that is never saved, and cheap)."""
    edges = torch.tensor(COCO_SKELETON, device=device)
    adjacency = torch.eye(num_keypoints, dtype=torch.bool, device=device)
    adjacency[edges[:, 0], edges[:, 1]] = True
    adjacency[edges[:, 1], edges[:, 0]] = True
    return adjacency


class SherlockExpertCrossAttention(nn.Module):
    """Multi-head cross-attention from video tokens (queries) to expert nodes (keys / values), in the expert width.

    Shapes: `queries (n, tokens, d)`, `nodes (n, nodes, d)`, `mask` boolean, broadcastable to `(n, tokens, nodes)`,
    `True` where a token may attend to a node. Every row must allow at least one node (the null node does).
    """

    def __init__(self, config: SherlockConfig):
        super().__init__()
        dim = config.expert_hidden_size
        self.num_heads = config.expert_num_heads
        self.head_dim = dim // self.num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim, bias=False)  # a key bias shifts all scores of a query equally: no effect
        self.v_proj = nn.Linear(dim, dim)
        self.o_proj = nn.Linear(dim, dim)

    def forward(self, queries: torch.Tensor, nodes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, num_tokens, dim = queries.shape
        num_nodes = nodes.shape[1]

        def split(x, length):
            return x.view(n, length, self.num_heads, self.head_dim).transpose(1, 2)

        q = split(self.q_proj(queries), num_tokens)
        k = split(self.k_proj(nodes), num_nodes)
        v = split(self.v_proj(nodes), num_nodes)
        attn_mask = mask.unsqueeze(1)  # broadcast over heads
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.o_proj(out.transpose(1, 2).reshape(n, num_tokens, dim))


class SherlockNullNode(nn.Module):
    """The learned "no node" key / value of a local expert's cross-attention (what a video token attends to when the
    frame has nothing relevant). A module of its own, so that PEFT's `modules_to_save` can name it: the background
    expert's trainable parts are saved with a LoRA adapter, its frozen tower is not."""

    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, 1, dim))


# Attribute naming how `SherlockPreTrainedModel._init_weights` initialises a local expert's layer (see
# `SherlockLocalExpert.mark_initialisation`).
EXPERT_INIT_ATTRIBUTE = "_sherlock_init"


class SherlockLocalExpert(nn.Module):
    """Base of the local experts: `S = W_up CrossAttn(W_down T_v, [null; nodes])` frame by frame (the paper's form),
    or `T_v + W_up CrossAttn(...)` with `config.expert_output="residual"`."""

    def __init__(self, config: SherlockConfig):
        super().__init__()
        self.residual = config.expert_output == "residual"
        hidden = config.text_config.hidden_size
        dim = config.expert_hidden_size
        self.down_proj = nn.Linear(hidden, dim)
        self.up_proj = nn.Linear(dim, hidden)
        self.null_node = SherlockNullNode(dim)
        self.cross_attention = SherlockExpertCrossAttention(config)

    def mark_initialisation(self) -> None:
        """Mark how each layer of this expert is initialised (read by `SherlockPreTrainedModel._init_weights`).

        An expert is a chain of about seven linear maps (node projection, graph layers, value, output and up
        projections) with no normalisation and no residual between them. At the language model's N(0, 0.02) each map
        shrinks its input by `0.02 * sqrt(fan_in)` (about 0.1 at width 32): the read-out came out ~1e-6 and nearly
        constant across videos, the gradients reaching the node projections vanished, and the experts did not learn
        (`benchmarks/probe_experts.py`). So every linear map gets N(0, 1/fan_in) (variance-preserving, `"fan_in"`) with
        a zero bias and every embedding N(0, 1) (`"unit"`), except the up projection, which starts at zero (`"zero"`,
        as the last layer of an adapter): a fresh expert reads out nothing, so a fresh GSM keeps Video-LLaVA's video
        features (paper form: the global expert's `T_v` alone in the mixture; residual form: every expert is `T_v`),
        while its gradient (the read-out it multiplies is now of order one) trains it from the first step. The
        background expert's tower keeps its own initialisation (it is loaded pretrained).
        """
        for name, module in self.named_modules():
            if name == "tower" or name.startswith("tower."):
                continue
            if isinstance(module, nn.Linear):
                scheme = "zero" if module is self.up_proj else "fan_in"
            elif isinstance(module, nn.Embedding):
                scheme = "unit"
            else:
                continue
            setattr(module, EXPERT_INIT_ATTRIBUTE, scheme)

    def attend(self, video_tokens: torch.Tensor, nodes: torch.Tensor, node_mask: torch.Tensor) -> torch.Tensor:
        """Cross-attend the video tokens of each frame to that frame's nodes.

        Args:
            video_tokens: `(batch, frames, tokens, hidden)`.
            nodes: `(batch, frames, nodes, expert_hidden_size)`.
            node_mask: boolean, `(batch, frames, nodes)` (every token sees the same nodes) or
                `(batch, frames, tokens, nodes)` (per-token visibility).

        Returns:
            `(batch, frames, tokens, hidden)`.
        """
        batch, frames, num_tokens, hidden = video_tokens.shape
        n = batch * frames
        queries = self.down_proj(video_tokens).reshape(n, num_tokens, -1)
        nodes = nodes.reshape(n, nodes.shape[2], nodes.shape[3]).to(queries.dtype)
        null = self.null_node.weight.to(queries.dtype).expand(n, 1, -1)
        keys = torch.cat([null, nodes], dim=1)
        num_nodes = node_mask.shape[-1]
        node_mask = node_mask.reshape(n, 1 if node_mask.dim() == 3 else num_tokens, num_nodes)
        null_mask = torch.ones(node_mask.shape[:2] + (1,), dtype=torch.bool, device=node_mask.device)
        mask = torch.cat([null_mask, node_mask.bool()], dim=-1)
        attended = self.cross_attention(queries, keys, mask)
        readout = self.up_proj(attended).reshape(batch, frames, num_tokens, hidden)
        return video_tokens + readout if self.residual else readout


class SherlockSkeletonGraphLayer(nn.Module):
    """Graph attention over the COCO skeleton (Eq. 1): `h'_k = ReLU(W [ĥ_k, h_k])`, where `ĥ_k` attends over the
    keypoint's skeleton neighbours and itself."""

    def __init__(self, dim: int):
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim, bias=False)  # a key bias cannot change the softmax
        self.value = nn.Linear(dim, dim)
        self.combine = nn.Linear(2 * dim, dim)

    def forward(self, nodes: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        # nodes: (..., keypoints, dim); adjacency: (keypoints, keypoints) boolean with self-loops.
        scores = self.query(nodes) @ self.key(nodes).transpose(-1, -2) / math.sqrt(nodes.shape[-1])
        scores = scores.masked_fill(~adjacency, torch.finfo(scores.dtype).min)
        neighbours = scores.softmax(dim=-1) @ self.value(nodes)
        return F.relu(self.combine(torch.cat([neighbours, nodes], dim=-1)))


def person_relative_keypoints(pose_keypoints: torch.Tensor, min_extent: float = 0.01):
    """Each skeleton in its own frame: `(relative, person)` from keypoints `(..., keypoints, 3)` = (x, y, score).

    `relative` `(..., keypoints, 3)`: `((x, y) - centre) / extent` and the score, zero where the score is zero (a
    keypoint not seen); `centre` is the score-weighted mean of the keypoints, `extent` the larger of the person's
    width and height over its seen keypoints (at least `min_extent`, so a lying person keeps its aspect and a
    one-keypoint person stays finite). `person` `(..., 3)`: `(centre x, centre y, extent)`, where the person is.
    """
    xy, score = pose_keypoints[..., :2], pose_keypoints[..., 2:]
    seen = score > 0
    weight = score.clamp(min=0)
    centre = (xy * weight).sum(-2, keepdim=True) / weight.sum(-2, keepdim=True).clamp(min=1e-6)
    low = torch.where(seen, xy, torch.full_like(xy, float("inf"))).amin(-2, keepdim=True)
    high = torch.where(seen, xy, torch.full_like(xy, float("-inf"))).amax(-2, keepdim=True)
    extent = (high - low).amax(-1, keepdim=True)
    extent = torch.where(torch.isfinite(extent), extent, torch.zeros_like(extent)).clamp(min=min_extent)
    relative = torch.where(seen, (xy - centre) / extent, torch.zeros_like(xy))
    person = torch.cat([centre, extent], dim=-1).squeeze(-2)
    return torch.cat([relative, score], dim=-1), person


class SherlockActionExpert(SherlockLocalExpert):
    """Action expert: human poses `(batch, frames, persons, 17, 3)` (x, y in [0, 1], score) → keypoint nodes
    (coordinates relative to the person + where the person is + joint identity) → graph attention over the COCO
    skeleton → cross-attention from `T_v`."""

    def __init__(self, config: SherlockConfig):
        super().__init__(config)
        dim = config.expert_hidden_size
        self.keypoint_proj = nn.Linear(3, dim)  # (x, y) relative to the person, score
        self.person_proj = nn.Linear(3, dim)  # the person's centre (x, y) and extent in the view
        self.joint_embedding = nn.Embedding(config.num_keypoints, dim)
        self.pose_embedding = (  # the person's whole skeleton, added to each of its keypoint nodes
            nn.Sequential(nn.Linear(3 * config.num_keypoints, dim), nn.GELU(), nn.Linear(dim, dim))
            if config.action_pose_embedding
            else None
        )
        self.graph_layers = nn.ModuleList(SherlockSkeletonGraphLayer(dim) for _ in range(config.expert_num_layers))

    def forward(self, video_tokens: torch.Tensor, pose_keypoints: torch.Tensor, pose_mask: torch.Tensor):
        batch, frames, persons, num_keypoints, _ = pose_keypoints.shape
        dtype = self.keypoint_proj.weight.dtype
        joints = torch.arange(num_keypoints, device=pose_keypoints.device)
        relative, person = person_relative_keypoints(pose_keypoints.to(dtype))
        nodes = self.keypoint_proj(relative) + self.person_proj(person).unsqueeze(-2) + self.joint_embedding(joints)
        if self.pose_embedding is not None:
            nodes = nodes + self.pose_embedding(relative.flatten(-2)).unsqueeze(-2)
        adjacency = skeleton_adjacency(num_keypoints, pose_keypoints.device)
        for layer in self.graph_layers:
            nodes = layer(nodes, adjacency)
        nodes = nodes.reshape(batch, frames, persons * num_keypoints, nodes.shape[-1])
        node_mask = pose_mask.bool().unsqueeze(-1).expand(-1, -1, -1, num_keypoints)
        node_mask = node_mask.reshape(batch, frames, persons * num_keypoints)
        return self.attend(video_tokens, nodes, node_mask)


class SherlockGraphConvLayer(nn.Module):
    """One GCN layer (Eq. 2): `H' = ReLU(Â H W + b)` with `Â` the normalised adjacency of `directed_relation_graph`."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = nn.Linear(dim, dim)

    def forward(self, nodes: torch.Tensor, norm_adjacency: torch.Tensor) -> torch.Tensor:
        return F.relu(norm_adjacency @ self.linear(nodes))


def directed_relation_graph(
    subject_index: torch.Tensor,
    object_index: torch.Tensor,
    relation_mask: torch.Tensor,
    num_objects: int,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Normalised adjacency of the directed object-relation graph of each frame (Eq. 2, directed).

    Nodes are the frame's `num_objects` objects followed by its relations. Each valid relation `r = (s, p, o)` adds
    the edges `s → r` and `r → o`; row `i` of the matrix aggregates what node `i` receives (`Ã[i, j] = 1` for an edge
    `j → i`), self-loops included. The normalisation `D_in^-1/2 Ã D_out^-1/2` (in-degrees of the receivers,
    out-degrees of the senders) is the paper's `D^-1/2 Ã D^-1/2` on undirected graphs. Padding relations add no edge.

    Args:
        subject_index, object_index (`torch.LongTensor` of shape `(batch, frames, relations)`): in `[0, num_objects)`.
        relation_mask (`torch.BoolTensor` of shape `(batch, frames, relations)`): valid relations.
        num_objects (`int`): objects per frame (padding included).

    Returns:
        `torch.Tensor` of shape `(batch, frames, num_objects + relations, num_objects + relations)`.
    """
    batch, frames, num_relations = subject_index.shape
    num_nodes = num_objects + num_relations
    adjacency = torch.zeros(batch, frames, num_nodes, num_nodes, dtype=dtype, device=subject_index.device)
    if num_relations > 0 and num_objects > 0:
        valid = relation_mask.to(dtype).unsqueeze(-1)
        from_subject = F.one_hot(subject_index, num_objects).to(dtype) * valid  # (b, f, relations, objects)
        to_object = F.one_hot(object_index, num_objects).to(dtype) * valid
        adjacency[..., num_objects:, :num_objects] = from_subject  # relation r receives from its subject
        adjacency[..., :num_objects, num_objects:] = to_object.transpose(-1, -2)  # object o receives from r
    adjacency = (adjacency + torch.eye(num_nodes, dtype=dtype, device=adjacency.device)).clamp(max=1)
    in_degree, out_degree = adjacency.sum(-1), adjacency.sum(-2)
    return in_degree.rsqrt().unsqueeze(-1) * adjacency * out_degree.rsqrt().unsqueeze(-2)


class SherlockObjectRelationExpert(SherlockLocalExpert):
    """Object-relation expert: objects (class, box) and relation triplets (subject, predicate, object) of each frame
    → a directed graph of object and relation nodes with edges subject → relation → object → GCN layers (Eq. 2) →
    cross-attention from `T_v` with object-aware masking: a patch token attends to the objects whose boxes cover
    its centre and to the relations of those objects; a CLS token attends to every node; every token may attend to
    the null node. Boxes are in the model's (resized, centre-cropped) frame: the processor maps them there."""

    def __init__(self, config: SherlockConfig):
        super().__init__(config)
        dim = config.expert_hidden_size
        self.object_embedding = nn.Embedding(config.num_object_classes, dim)
        self.predicate_embedding = nn.Embedding(config.num_relation_classes, dim)
        self.box_proj = nn.Linear(4, dim)
        self.relation_box_proj = nn.Linear(8, dim)  # (subject box, object box), in that order: direction matters
        self.graph_layers = nn.ModuleList(SherlockGraphConvLayer(dim) for _ in range(config.expert_num_layers))

    def forward(
        self,
        video_tokens: torch.Tensor,
        object_boxes: torch.Tensor,
        object_labels: torch.Tensor,
        object_mask: torch.Tensor,
        relation_triplets: torch.Tensor,
        relation_mask: torch.Tensor,
    ):
        batch, frames, num_tokens, _ = video_tokens.shape
        num_objects, num_relations = object_boxes.shape[2], relation_triplets.shape[2]
        device = video_tokens.device
        dtype = self.box_proj.weight.dtype
        object_mask, relation_mask = object_mask.bool(), relation_mask.bool()
        boxes = object_boxes.to(dtype)

        # Node features: objects = class + box; relations = predicate + (subject box, object box).
        subject_index = relation_triplets[..., 0].clamp(0, max(num_objects - 1, 0))
        object_index = relation_triplets[..., 2].clamp(0, max(num_objects - 1, 0))
        if num_objects > 0:
            subject_boxes = torch.gather(boxes, 2, subject_index.unsqueeze(-1).expand(-1, -1, -1, 4))
            target_boxes = torch.gather(boxes, 2, object_index.unsqueeze(-1).expand(-1, -1, -1, 4))
            pair_boxes = torch.cat([subject_boxes, target_boxes], dim=-1)
        else:
            pair_boxes = boxes.new_zeros(batch, frames, num_relations, 8)
        # Padding entries may hold any id (e.g. -1): clamp them into range; they are masked everywhere below.
        labels = object_labels.clamp(0, self.object_embedding.num_embeddings - 1)
        predicates = relation_triplets[..., 1].clamp(0, self.predicate_embedding.num_embeddings - 1)
        object_nodes = self.object_embedding(labels) + self.box_proj(boxes)
        relation_nodes = self.predicate_embedding(predicates) + self.relation_box_proj(pair_boxes)
        nodes = torch.cat([object_nodes, relation_nodes], dim=2)

        norm_adjacency = directed_relation_graph(subject_index, object_index, relation_mask, num_objects, dtype)
        for layer in self.graph_layers:
            nodes = layer(nodes, norm_adjacency)

        # Object-aware masking: which nodes each video token may see.
        centers, has_cls = patch_centers(num_tokens, device)
        cx, cy = centers[:, 0].view(1, 1, -1, 1), centers[:, 1].view(1, 1, -1, 1)
        box = object_boxes.float().unsqueeze(2)  # (b, f, 1, objects, 4)
        covers = (
            (box[..., 0] <= cx) & (cx <= box[..., 2]) & (box[..., 1] <= cy) & (cy <= box[..., 3])
        ) & object_mask.unsqueeze(2)  # (b, f, patches, objects)
        if num_relations > 0 and num_objects > 0:
            subject_covered = torch.gather(covers, 3, subject_index.unsqueeze(2).expand(-1, -1, covers.shape[2], -1))
            object_covered = torch.gather(covers, 3, object_index.unsqueeze(2).expand(-1, -1, covers.shape[2], -1))
            relation_visible = (subject_covered | object_covered) & relation_mask.unsqueeze(2)
        else:
            relation_visible = covers.new_zeros(batch, frames, covers.shape[2], num_relations)
        node_mask = torch.cat([covers, relation_visible], dim=-1)
        if has_cls:
            cls_mask = torch.cat([object_mask, relation_mask], dim=-1).unsqueeze(2)
            node_mask = torch.cat([cls_mask, node_mask], dim=2)
        return self.attend(video_tokens, nodes, node_mask)


class SherlockBackgroundExpert(SherlockLocalExpert):
    """Background expert (Eq. 3): background frames (foreground blanked) → frozen background tower → projection to
    the expert width → cross-attention from `T_v`. Accepts the cached tower output instead of pixels.

    The tower is pretrained and frozen: `SherlockModel.load_background_tower` fills it (by default from the
    checkpoint's own image tower, or from `config.background_tower_name_or_path`); it never trains and stays in eval
    mode, also after `model.train()`."""

    def __init__(self, config: SherlockConfig):
        super().__init__(config)
        self.tower = AutoModel.from_config(config.background_vision_config)
        self.tower.requires_grad_(False)
        self.tower.eval()
        self.feature_proj = nn.Linear(config.background_vision_config.hidden_size, config.expert_hidden_size)

    def train(self, mode: bool = True):
        """As `nn.Module.train`, but the frozen tower stays in eval mode (no dropout, fixed statistics)."""
        super().train(mode)
        self.tower.eval()
        return self

    @torch.no_grad()
    def encode_background(self, background_pixel_values: torch.Tensor) -> torch.Tensor:
        """Run the frozen tower: `(batch, frames, 3, H, W)` → `(batch, frames, N_bg, D_bg)`."""
        batch, frames = background_pixel_values.shape[:2]
        pixels = background_pixel_values.flatten(0, 1).to(self.feature_proj.weight.dtype)
        features = self.tower(pixel_values=pixels).last_hidden_state
        return features.reshape(batch, frames, features.shape[1], features.shape[2])

    def forward(self, video_tokens: torch.Tensor, background_features: torch.Tensor):
        nodes = self.feature_proj(background_features.to(self.feature_proj.weight.dtype))
        node_mask = torch.ones(nodes.shape[:3], dtype=torch.bool, device=nodes.device)
        return self.attend(video_tokens, nodes, node_mask)


class SherlockExpertGate(nn.Module):
    """Soft expert gate (Eq. 5-6): `g = softmax(W_g sum_i S_i)` per video token, `O = LayerNorm(sum_i g_i S_i)`
    (`config.gate_norm="mixture"`); with `gate_norm="experts"` each expert is normalised first, `N_i = LayerNorm_i(S_i)`,
    `g = softmax(W_g sum_i N_i)`, `O = sum_i g_i N_i` (`SherlockConfig.gate_norm`)."""

    def __init__(self, config: SherlockConfig):
        super().__init__()
        hidden = config.text_config.hidden_size
        self.proj = nn.Linear(hidden, len(config.experts))
        if config.gate_norm == "experts":
            self.expert_norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in config.experts)
        else:
            self.norm = nn.LayerNorm(hidden)

    def forward(self, expert_outputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`expert_outputs (..., experts, hidden)` → `(mixture (..., hidden), gate_weights (..., experts))`."""
        if hasattr(self, "expert_norms"):
            expert_outputs = torch.stack(
                [norm(expert_outputs[..., i, :]) for i, norm in enumerate(self.expert_norms)], dim=-2
            )
        gate_weights = self.proj(expert_outputs.sum(dim=-2)).float().softmax(dim=-1).to(expert_outputs.dtype)
        mixture = (gate_weights.unsqueeze(-1) * expert_outputs).sum(dim=-2)
        return (mixture if hasattr(self, "expert_norms") else self.norm(mixture)), gate_weights


__all__ = [
    "EXPERT_INIT_ATTRIBUTE",
    "SherlockActionExpert",
    "SherlockBackgroundExpert",
    "SherlockExpertCrossAttention",
    "SherlockExpertGate",
    "SherlockGraphConvLayer",
    "SherlockLocalExpert",
    "SherlockObjectRelationExpert",
    "SherlockSkeletonGraphLayer",
    "directed_relation_graph",
    "patch_centers",
    "skeleton_adjacency",
]
