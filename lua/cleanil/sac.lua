-- The SAC learner shared by sac, gail and the model-based IRL methods (algorithms.md §2.4).
-- One update = critic step, actor step (through the just-updated critic), temperature step,
-- polyak averaging of the critic targets; the new alpha is used from the next update on.
return function(cil)
  local SAC = {}
  SAC.__index = SAC

  SAC.defaults = {
    hidden = {256, 256, 256}, activation = "silu", gamma = 0.99, polyak = 0.995,
    lr_actor = 3e-4, lr_critic = 3e-4, alpha = 1.0, tune_alpha = true, grad_clip = 1000,
    critic_loss = "mse",   -- "mse" or "huber" (mbpo, rambo)
    q_clip = nil,          -- clip Q targets and Q values in the critic loss (omlirl, rmirl: 1000)
  }

  function cil.SAC(obs_dim, act_dim, cfg, rng)
    cfg = setmetatable(cfg or {}, {__index = SAC.defaults})
    local self = setmetatable({cfg = cfg, obs_dim = obs_dim, act_dim = act_dim, rng = rng}, SAC)
    local net = {activation = cfg.activation, rng = rng}
    self.actor = cil.TanhNormalActor(obs_dim, act_dim, cfg.hidden, net)
    -- zero_init_critic: both Q nets' final layers start at 0 (rmirl, rmirl_implicit)
    self.critic = cil.nn.DoubleQ(obs_dim + act_dim, cfg.hidden,
      cfg.zero_init_critic and {activation = cfg.activation, rng = rng, zero_last = true} or net)
    self.critic_target = self.critic:clone():requires_grad_(false)
    self.log_alpha = cil.param(cil.tensor{math.log(cfg.alpha)})
    self.alpha = cfg.alpha
    self.target_entropy = -act_dim
    self.actor_opt = cil.optim.Adam(self.actor:parameters(), {lr = cfg.lr_actor})
    self.critic_opt = cil.optim.Adam(self.critic:parameters(), {lr = cfg.lr_critic})
    self.alpha_opt = cil.optim.Adam({self.log_alpha}, {lr = cfg.lr_actor})
    self.actor_params, self.critic_params = self.actor:parameters(), self.critic:parameters()
    return self
  end

  local function cat(a, b) return cil.cat({a, b}, 2) end
  local function critic_err(q, y, kind)
    local e = q - y
    if kind == "huber" then -- SmoothL1, beta = 1
      local ae = e:abs()
      return cil.where(ae:lt(1), e:square() * 0.5, ae - 0.5)
    end
    return e:square()
  end

  -- y = r + gamma (1 - d) (min Qbar(o', a') - alpha log pi(a'|o')),  a' ~ pi(o')
  function SAC:td_target(r, o2, d)
    return cil.no_grad(function()
      local a2, logp2 = self.actor(o2):rsample_with_log_prob(self.rng)
      local q2 = self.critic_target:minq(cat(o2, a2))
      if self.cfg.q_clip then q2 = q2:clamp(-self.cfg.q_clip, self.cfg.q_clip) end
      return r + (1 - d) * self.cfg.gamma * (q2 - logp2:reshape(-1, 1) * self.alpha)
    end)
  end

  -- L_Q = 1/2 [l(Q1(o,a), y) + l(Q2(o,a), y)]
  function SAC:critic_step(o, a, r, o2, d)
    local y = self:td_target(r, o2, d)
    local q = self.critic(cat(o, a))                         -- [2, B, 1]
    if self.cfg.q_clip then q = q:clamp(-self.cfg.q_clip, self.cfg.q_clip) end
    local loss = critic_err(q, y, self.cfg.critic_loss):mean()
    cil.optim.zero_grads(self.critic_params)
    loss:backward({inputs = self.critic_params})
    cil.optim.clip_grad_norm(self.critic_params, self.cfg.grad_clip)
    self.critic_opt:step()
    return loss
  end

  -- L_pi = mean(alpha log pi(a~|o) - min Q(o, a~)),  a~ ~ pi(o) reparameterized
  function SAC:actor_step(o)
    local a, logp = self.actor(o):rsample_with_log_prob(self.rng)
    local q = self.critic:minq(cat(o, a))
    local loss = (logp:reshape(-1, 1) * self.alpha - q):mean()
    cil.optim.zero_grads(self.actor_params)
    loss:backward({inputs = self.actor_params})             -- no critic weight gradients
    cil.optim.clip_grad_norm(self.actor_params, self.cfg.grad_clip)
    self.actor_opt:step()
    return loss, logp:detach()
  end

  -- L_alpha = -mean(exp(log alpha) * sg(log pi + H)),  H = -act_dim
  function SAC:alpha_step(logp)
    local loss = -(self.log_alpha:exp() * (logp + self.target_entropy)):mean()
    self.log_alpha.grad = nil
    loss:backward()
    self.alpha_opt:step()
    return loss
  end

  -- one full update on a batch {obs, act, rew [B,1], next_obs, done [B,1]}; returns stats
  function SAC:update(b)
    local alpha_used = self.alpha                           -- logged: the alpha of this step's losses
    local critic_loss = self:critic_step(b.obs, b.act, b.rew, b.next_obs, b.done)
    local actor_loss, logp = self:actor_step(b.obs)
    local alpha_loss
    if self.cfg.tune_alpha then alpha_loss = self:alpha_step(logp) end
    self.critic_target:polyak_from(self.critic, self.cfg.polyak)
    self.alpha = math.exp(self.log_alpha[1])
    return {critic_loss = critic_loss:item(), actor_loss = actor_loss:item(),
            alpha_loss = alpha_loss and alpha_loss:item() or 0, alpha = alpha_used}
  end

  -- everything a checkpoint needs
  function SAC:state()
    return {actor = self.actor:state_dict(), critic = self.critic:state_dict(),
            critic_target = self.critic_target:state_dict(), log_alpha = self.log_alpha,
            actor_opt = self.actor_opt:state(), critic_opt = self.critic_opt:state(),
            alpha_opt = self.alpha_opt:state()}
  end
  function SAC:load_state(s)
    self.actor:load_state_dict(s.actor, "SAC actor")
    self.critic:load_state_dict(s.critic, "SAC critic")
    self.critic_target:load_state_dict(s.critic_target, "SAC critic_target")
    self.log_alpha:copy_(s.log_alpha)
    self.actor_opt:load_state(s.actor_opt)
    self.critic_opt:load_state(s.critic_opt)
    self.alpha_opt:load_state(s.alpha_opt)
    self.alpha = math.exp(self.log_alpha[1])
  end

  return SAC
end
