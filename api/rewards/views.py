from flask.views import MethodView
from flask_smorest import Blueprint

from api.auth import current_actor, public_or, requires
from api.common import page_body
from api.rewards.schemas import (
    RewardCreateSchema,
    RewardListArgs,
    RewardPage,
    RewardPatchSchema,
    RewardSchema,
    reward_body,
)
from loyalty.actors import PUBLIC, Role
from loyalty.rewards import services as rewards
from web.extensions import db

blp = Blueprint(
    "rewards",
    __name__,
    url_prefix="/rewards",
    description=(
        "The rewards catalog: what members take for points (`POST /redemptions`). A reward has a cost in points "
        "and optionally a stock, a limit per member, a minimum tier and a window when it is offered. An "
        "operator reward (`merchant_id` null) is usable at every partner's stores; a merchant's own reward only at "
        "that merchant's.\n\n"
        "**Scope.** Admin and marketer keys see and write every reward. A merchant key sees and writes only its "
        "own: the operator's and other merchants' answer 404, `merchant_id` defaults to its own, and naming null "
        "is 403. A terminal key reads the rewards it can redeem: the operator's and its merchant's. Without a "
        "key, `GET /rewards` lists the rewards offered now, without their stock figures."
    ),
)

WRITERS = (Role.ADMIN, Role.MARKETER, Role.MERCHANT)
READERS = (Role.ADMIN, Role.MARKETER, Role.MERCHANT, Role.TERMINAL)


@blp.route("")
class RewardsView(MethodView):
    @public_or(*READERS)
    @blp.arguments(RewardListArgs, location="query")
    @blp.response(200, RewardPage)
    def get(self, args):
        """List rewards, newest first, by `status`, `merchant_id` or `available`.

        Without a key: only the rewards offered now (active and in their window), for the members' portal.
        """
        actor = current_actor()
        page = rewards.list_rewards(db.session, actor=actor, **args)
        public = actor is PUBLIC
        return page_body(page) | {"items": [reward_body(reward, public=public) for reward in page.items]}

    @requires(*WRITERS)
    @blp.arguments(RewardCreateSchema)
    @blp.response(201, RewardSchema)
    @blp.alt_response(403, response="Error", description="A merchant key offering an operator reward.")
    def post(self, data):
        """Add a reward to the catalog, offered at once within its window (audited)."""
        reward = rewards.create_reward(db.session, reward=data, actor=current_actor())
        db.session.commit()
        return reward_body(reward)


@blp.route("/<reward_id>")
class RewardView(MethodView):
    @requires(*READERS)
    @blp.response(200, RewardSchema)
    def get(self, reward_id):
        """Read a reward with its stock figures."""
        return reward_body(rewards.get_reward(db.session, reward_id, actor=current_actor()))

    @requires(*WRITERS)
    @blp.arguments(RewardPatchSchema)
    @blp.response(200, RewardSchema)
    def patch(self, data, reward_id):
        """Change a reward, archive it (`status: archived`) or offer it again (audited with old and new values).

        The fields given replace the current ones (null clears the optional ones); `merchant_id` cannot change
        and `stock` cannot go below the number already issued. Redemptions already made keep their points and
        code.
        """
        reward = rewards.update_reward(db.session, reward_id=reward_id, changes=data, actor=current_actor())
        db.session.commit()
        return reward_body(reward)
